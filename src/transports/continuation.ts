/** The continuation token of paged lists, as every face accepts it: opaque, URL-safe, bounded. */
import Type from 'typebox';

export const ContinuationToken = Type.String({
  pattern: '^[A-Za-z0-9_-]{1,2048}$',
  description: 'token from the previous page (x-ms-continuation); opaque',
});
