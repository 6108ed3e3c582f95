/**
 * Turns what the Kubernetes API (or the network under it) says into devloop errors that name who
 * must act. Only src/kube/ creates these; callers catch `KubeApiError` by `status` when a status is
 * expected (404 on a GET, 409 on a conflict) and let everything else travel up to cli/main.ts.
 */
import { DevloopError, EnvironmentError, UsageError } from '../errors.js';

/** The body of a failed API call (`kind: Status`). */
export interface KubeStatus {
  kind?: string;
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: { name?: string; group?: string; kind?: string; causes?: Array<{ reason?: string; message?: string; field?: string }> };
}

/**
 * An API call answered with an error status the caller may handle (404, 409, 410, 422...). Its kind
 * is `failure` so that, unhandled, it ends the run with exit 1 and the server's own words.
 */
export class KubeApiError extends DevloopError {
  readonly status: number;
  readonly reason?: string;
  readonly body?: KubeStatus;

  constructor(status: number, method: string, urlPath: string, body: KubeStatus | undefined, hint?: string) {
    super('failure', body?.message ? `${body.message} (${method} ${urlPath}: HTTP ${status})` : `${method} ${urlPath}: HTTP ${status}`, {
      hint,
      details: (body?.details?.causes ?? []).map((c) => `${c.field ? `${c.field}: ` : ''}${c.message ?? c.reason ?? ''}`),
    });
    this.status = status;
    this.reason = body?.reason;
    this.body = body;
  }
}

/**
 * The API server refused the call for lack of permission (HTTP 403, other than a namespace being
 * terminated). An EnvironmentError whose hint names the user and context; callers that can go on
 * without the answer (list per namespace instead, skip a source) test it with `isForbidden`.
 */
export class KubeForbiddenError extends EnvironmentError {
  readonly status = 403;
}

/** Whether `error` is a permission refusal from the API server (see KubeForbiddenError). */
export function isForbidden(error: unknown): error is KubeForbiddenError {
  return error instanceof KubeForbiddenError;
}

/**
 * The cluster serves no resource type for a manifest's apiVersion and kind (a typo, or a CRD not
 * installed or already deleted). A UsageError (the manifest must change) whose hint says how;
 * callers for which a missing type means "the object is gone too" test it with `isUnknownKind`.
 */
export class KubeUnknownKindError extends UsageError {}

/** Whether `error` says the cluster has no such resource type (see KubeUnknownKindError). */
export function isUnknownKind(error: unknown): error is KubeUnknownKindError {
  return error instanceof KubeUnknownKindError;
}

/**
 * The namespace a call names does not exist (HTTP 404 whose Status names a namespace: creating an
 * object in a namespace nobody created, or reading the namespace itself). A KubeApiError with status
 * 404, so `isNotFound` holds for it too; callers that can say how to create it test it with instanceof.
 */
export class KubeNamespaceNotFoundError extends KubeApiError {
  constructor(
    readonly namespace: string,
    method: string,
    urlPath: string,
    body: KubeStatus | undefined,
  ) {
    super(404, method, urlPath, body);
  }
}

/**
 * The API server refused to create an object in a namespace that is being deleted (HTTP 403 "being
 * terminated"): not a permission problem, so not a KubeForbiddenError; the hint says to wait.
 */
export class KubeNamespaceTerminatingError extends EnvironmentError {}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'EPROTO',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
]);

const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
]);

/** The hint for an unreachable cluster, shared by every message that says so. */
export const UNREACHABLE_HINT =
  'Is the cluster running and is this the right context? (For the test cluster: npm run cluster:up.) Check with `kubectl cluster-info`.';

/**
 * The cluster could not be reached at all: connection refused or reset, no answer in time, TLS
 * failure. A state of the environment, not a failure of the user's code: the dev loop waits for the
 * cluster to answer again instead of rebuilding. An EnvironmentError, so commands that do not
 * handle it end with its hint as before.
 */
export class ClusterUnreachableError extends EnvironmentError {
  /** The transport error code (ECONNREFUSED, ETIMEDOUT, a TLS code...), when there is one. */
  readonly code?: string;

  constructor(message: string, options: { hint?: string; cause?: unknown; code?: string } = {}) {
    super(message, { hint: options.hint ?? UNREACHABLE_HINT, cause: options.cause });
    this.code = options.code;
  }
}

export function isClusterUnreachable(error: unknown): error is ClusterUnreachableError {
  return error instanceof ClusterUnreachableError;
}

/** The transport error code of `error`, looking through wrappers (`cause`, a websocket ErrorEvent's `error`). */
function transportCode(error: unknown): string | undefined {
  let current = error as { code?: unknown; cause?: unknown; error?: unknown } | undefined;
  for (let depth = 0; current && typeof current === 'object' && depth < 4; depth++) {
    if (typeof current.code === 'string') return current.code;
    current = (current.error ?? current.cause) as typeof current;
  }
  return undefined;
}

/** Classifies a transport error (no HTTP answer). Returns undefined when it is not one. */
export function networkError(error: unknown, server: string, context: string): ClusterUnreachableError | undefined {
  const code = transportCode(error);
  if (code && NETWORK_CODES.has(code)) {
    return new ClusterUnreachableError(`cannot reach the cluster at ${server} (context ${context}): ${code}`, { cause: error, code });
  }
  if (code && TLS_CODES.has(code)) {
    return new ClusterUnreachableError(`the cluster at ${server} (context ${context}) presented a certificate devloop cannot trust: ${code}`, {
      hint: 'The kubeconfig may be stale (the cluster was recreated): refresh it, or check certificate-authority-data for this cluster.',
      cause: error,
      code,
    });
  }
  return undefined;
}

/** A request that got no answer for `ms` (a frozen API server accepts connections but never replies). */
export function noAnswerError(server: string, context: string, what: string, ms: number): ClusterUnreachableError {
  return new ClusterUnreachableError(`the cluster at ${server} (context ${context}) did not answer ${what} within ${Math.round(ms / 1000)} s`, { code: 'ETIMEDOUT' });
}

/** Classifies an HTTP error answer: 401/403 become environment errors, the rest KubeApiError. */
export function httpError(status: number, method: string, urlPath: string, body: KubeStatus | undefined, who: { server: string; context: string; user: string }): DevloopError {
  if (status === 401) {
    return new EnvironmentError(`the cluster at ${who.server} refused the credentials of user "${who.user}" (context ${who.context}): ${body?.message ?? 'Unauthorized'}`, {
      hint: 'Log in again or refresh the kubeconfig (expired token or certificate).',
    });
  }
  if (status === 403 && /because it is being terminated/.test(body?.message ?? '')) {
    return new KubeNamespaceTerminatingError(body!.message!, {
      hint: 'The namespace is still being deleted (a down or kubectl delete moments ago): wait until it is gone (kubectl get namespace), then run again.',
    });
  }
  if (status === 403) {
    return new KubeForbiddenError(`forbidden: ${body?.message ?? `${method} ${urlPath}`}`, {
      hint: `The user "${who.user}" of context ${who.context} lacks this permission: ask a cluster admin for a Role granting it, or use another context (deploy.kubeContext).`,
    });
  }
  const missingNamespace = status === 404 ? namespaceNotFound(body) : undefined;
  if (missingNamespace !== undefined) return new KubeNamespaceNotFoundError(missingNamespace, method, urlPath, body);
  return new KubeApiError(status, method, urlPath, body);
}

/** The namespace a 404 Status says is missing (`details.kind: namespaces`, as the API server sends it), if any. */
function namespaceNotFound(body: KubeStatus | undefined): string | undefined {
  if (body?.details?.kind === 'namespaces' && body.details.name) return body.details.name;
  return /^namespaces "([^"]+)" not found/.exec(body?.message ?? '')?.[1];
}

export function isNotFound(error: unknown): boolean {
  return error instanceof KubeApiError && error.status === 404;
}

/**
 * The fields a rejected apply (HTTP 422) tried to change that the API server never changes on an
 * existing object: a Job's `spec.template`, a Deployment's `spec.selector`, a Service's
 * `spec.clusterIP` ("field is immutable"), a StatefulSet's fields other than its template,
 * replicas and update strategy, most of a Pod's spec ("Forbidden: ... updates ... may not change"
 * / "... for fields other than ... are forbidden"). Empty for any other error, and when one cause
 * of the 422 is something else (an invalid value that a new object would be refused for too).
 */
export function immutableFields(error: unknown): string[] {
  if (!(error instanceof KubeApiError) || error.status !== 422) return [];
  const causes = error.body?.details?.causes ?? [];
  const immutable = (c: { reason?: string; message?: string }) =>
    /field is immutable/.test(c.message ?? '') || (c.reason === 'FieldValueForbidden' && /updates (to .+ for fields other than .+ are forbidden|may not change fields other than)/.test(c.message ?? ''));
  if (causes.length === 0 || !causes.every(immutable)) return [];
  return [...new Set(causes.map((c) => c.field ?? '(a field)'))];
}

/**
 * The API server's message of a rejected object, without the values it quotes in full: a 422 on
 * a Job's template quotes the whole template as a Go struct (thousands of characters). Each cause
 * becomes `field: message`, an `Invalid value: X: ` longer than 80 characters shortened to its reason.
 */
export function rejectionMessage(error: KubeApiError): string {
  const causes = error.body?.details?.causes ?? [];
  if (causes.length === 0) return error.body?.message ?? error.message;
  const what = error.body?.details?.kind && error.body.details.name ? `${error.body.details.kind} "${error.body.details.name}" is invalid: ` : '';
  return (
    what +
    causes
      .map((c) => {
        let message = c.message ?? c.reason ?? '';
        const quoted = /^Invalid value: (.*): ([^:]+)$/s.exec(message);
        if (quoted && quoted[1].length > 80) message = quoted[2];
        return `${c.field ? `${c.field}: ` : ''}${message}`;
      })
      .join('; ')
  );
}
