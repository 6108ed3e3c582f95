/**
 * The labels that mark an object as devloop's, for one project. They are how `down` and pruning
 * decide what may be deleted: an object without both labels is never touched.
 */
import type { KubeObject } from '../kube/types.js';
import { podTemplateMetadataOf } from './images.js';

export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'devloop';
export const PROJECT_LABEL = 'devloop.dev/project';

/** `devloop.dev/project=<name>,app.kubernetes.io/managed-by=devloop`: finds a project's objects and pods. */
export function projectSelector(project: string): string {
  return `${PROJECT_LABEL}=${project},${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`;
}

export function projectLabels(project: string): Record<string, string> {
  return { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [PROJECT_LABEL]: project };
}

/** Whether the object's labels say devloop created it for `project`. */
export function isOwnedBy(obj: Pick<KubeObject, 'metadata'>, project: string): boolean {
  const labels = obj.metadata.labels ?? {};
  return labels[PROJECT_LABEL] === project && labels[MANAGED_BY_LABEL] === MANAGED_BY_VALUE;
}

/** Who the object's labels say it belongs to, for collision messages. */
export function describeOwner(obj: Pick<KubeObject, 'metadata'>): string {
  const labels = obj.metadata.labels ?? {};
  if (labels[MANAGED_BY_LABEL] === MANAGED_BY_VALUE && labels[PROJECT_LABEL]) return `devloop project "${labels[PROJECT_LABEL]}"`;
  if (labels[MANAGED_BY_LABEL]) return `${labels[MANAGED_BY_LABEL]} (app.kubernetes.io/managed-by)`;
  return 'someone else (it has no devloop labels)';
}

/** Returns a copy of `obj` with the project labels on the object and on its pod template. */
export function withProjectLabels(obj: KubeObject, project: string): KubeObject {
  const copy = structuredClone(obj);
  const labels = projectLabels(project);
  copy.metadata.labels = { ...(copy.metadata.labels ?? {}), ...labels };
  for (const meta of podTemplateMetadataOf(copy)) meta.labels = { ...(meta.labels ?? {}), ...labels };
  return copy;
}
