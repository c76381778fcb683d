/** RFC 7396 JSON merge patch, as enrollment updates and device twins apply it. */

/**
 * Merges `patch` into `target` (changed in place and returned): objects merge, null removes,
 * anything else replaces. Keys for which `skip` says true are ignored.
 */
export function mergePatch(
  target: Record<string, unknown>,
  patch: Record<string, unknown>,
  skip: (key: string) => boolean = () => false,
): Record<string, unknown> {
  for (const [k, v] of Object.entries(patch)) {
    if (skip(k)) continue;
    if (v === null) delete target[k];
    else if (typeof v === 'object' && !Array.isArray(v)) {
      const t = target[k];
      target[k] = mergePatch(
        typeof t === 'object' && t !== null && !Array.isArray(t) ? (t as Record<string, unknown>) : {},
        v as Record<string, unknown>,
        skip,
      );
    } else target[k] = v;
  }
  return target;
}
