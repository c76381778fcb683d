/** RFC 4180 CSV: quoted fields with "" escapes, commas and line breaks inside quotes, CRLF or LF. */
import { ZtError } from '../errors.ts';

/** Rows of fields; empty lines are skipped. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  let i = 0;
  const endField = () => {
    row.push(field);
    field = '';
  };
  const endRow = () => {
    endField();
    if (row.length > 1 || row[0] !== '') rows.push(row);
    row = [];
  };
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i += 2;
        continue;
      }
      if (c === '"') quoted = false;
      else field += c;
      i++;
      continue;
    }
    if (c === '"' && field === '') quoted = true;
    else if (c === ',') endField();
    else if (c === '\n') endRow();
    else if (c !== '\r') field += c;
    i++;
  }
  if (quoted) throw new ZtError('BAD_REQUEST', `the CSV ends inside a quoted field (row ${rows.length + 1})`);
  if (field !== '' || row.length) endRow();
  return rows;
}

/** Rows as objects keyed by the header row. */
export function csvRecords(text: string): Array<Record<string, string>> {
  const [header, ...rows] = parseCsv(text.replace(/^\uFEFF/, ''));
  if (!header) return [];
  const names = header.map((h) => h.trim());
  return rows.map((r, n) => {
    if (r.length > names.length)
      throw new ZtError(
        'BAD_REQUEST',
        `CSV row ${n + 2} has ${r.length} fields; the header has ${names.length}`,
      );
    return Object.fromEntries(names.map((h, i) => [h, (r[i] ?? '').trim()]));
  });
}
