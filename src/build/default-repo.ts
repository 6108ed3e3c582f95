/**
 * Skaffold's default-repo rewriting of image names (`--default-repo`, `SKAFFOLD_DEFAULT_REPO`),
 * ported from Skaffold's pkg/skaffold/docker/default_repo.go so the same config pushes to the same
 * references with either tool. Pure.
 *
 * - An image that already starts with the default repo is kept (`gcr.io/p/app` under `gcr.io/p`).
 * - Registries with multi-level repositories (a `gcr.io` or `*-docker.pkg.dev` default repo, or
 *   `multiLevel: true`): when the image and the default repo share their `DOMAIN/PROJECT` prefix the
 *   image's rest goes under the default repo, else the whole image name is appended after `/`.
 * - Other registries: the image name is appended with every `/ . _ : @` replaced by `_`
 *   (`blog/posts` under `registry.example.com` -> `registry.example.com/blog_posts`).
 * - The result is cut at 255 characters; the tag and digest of `image` are kept.
 */
import { UsageError } from '../errors.js';

const MAX_LENGTH = 255;
const ESCAPE = /[/._:@]/g;
/** Go's reference.DomainRegexp (host or IPv4 with optional port; Skaffold's prefixRegex). */
const DOMAIN = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(?::[0-9]+)?';
const GCP_PROJECT_ID = '[a-z][a-z0-9-]{4,28}[a-z0-9]';
const PREFIX = new RegExp(`^${DOMAIN}/${GCP_PROJECT_ID}/?`);
/** distribution/reference's grammar: name components separated by `/`, optional domain, tag, digest. */
const REFERENCE = new RegExp(
  `^((?:${DOMAIN}/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)(?::([\\w][\\w.-]{0,127}))?(?:@([A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?$`,
);

/** `image` with its name moved under `defaultRepo`, as Skaffold does it. Throws UsageError for an invalid image reference. */
export function substituteDefaultRepo(defaultRepo: string, image: string, multiLevel?: boolean): string {
  if (defaultRepo === '') return image;
  const parsed = parseReference(image);
  let replaced = replace(defaultRepo, multiLevel, parsed.baseName);
  if (parsed.tag) replaced += `:${parsed.tag}`;
  if (parsed.digest) replaced += `@${parsed.digest}`;
  return replaced;
}

function replace(defaultRepo: string, multiLevel: boolean | undefined, baseImage: string): string {
  if (baseImage.startsWith(defaultRepo)) return baseImage;
  const originalPrefix = PREFIX.exec(baseImage)?.[0] ?? '';
  const defaultRepoPrefix = PREFIX.exec(defaultRepo)?.[0] ?? '';
  if (supportsMultiLevel(defaultRepoPrefix, multiLevel)) {
    if (originalPrefix === defaultRepoPrefix) return `${defaultRepo}/${baseImage.slice(originalPrefix.length)}`;
    return truncate(`${defaultRepo}/${baseImage}`);
  }
  return truncate(`${defaultRepo}/${baseImage.replace(ESCAPE, '_')}`);
}

function supportsMultiLevel(repoPrefix: string, multiLevel: boolean | undefined): boolean {
  if (repoPrefix.includes('gcr.io') || repoPrefix.includes('-docker.pkg.dev')) return true;
  return multiLevel ?? false;
}

function truncate(image: string): string {
  return image.length > MAX_LENGTH ? image.slice(0, MAX_LENGTH) : image;
}

/** Skaffold's ParseReference: `ko://` stripped, the name (not the tag) lower-cased, then split. */
function parseReference(image: string): { baseName: string; tag?: string; digest?: string } {
  let sanitized = image.startsWith('ko://') ? image.slice('ko://'.length) : image;
  const lastSlash = sanitized.lastIndexOf('/');
  const tagColon = sanitized.indexOf(':', lastSlash + 1);
  sanitized = tagColon >= 0 ? sanitized.slice(0, tagColon).toLowerCase() + sanitized.slice(tagColon) : sanitized.toLowerCase();
  const match = REFERENCE.exec(sanitized);
  if (!match) {
    throw new UsageError(`"${image}" is not a valid image reference, so the default repo cannot be applied to it`, {
      hint: 'Image names are lowercase path components separated by "/", e.g. blog/posts.',
    });
  }
  return { baseName: match[1], tag: match[2], digest: match[3] };
}
