// Which exporter images may be injected. The exporter runs as the app's user, so whoever may
// create a monitor must not be able to run any image they like that way: only the images the
// operator allows (exact references, or prefixes ending in '*') and its own default.

export function imageAllowed(image: string, allowed: readonly string[]): boolean {
  return allowed.some((a) => (a.endsWith('*') ? image.startsWith(a.slice(0, -1)) : image === a));
}
