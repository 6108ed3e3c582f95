/**
 * Turns what the Kubernetes API (or the network under it) says into devloop errors that name who
 * must act. Only src/kube/ creates these; callers catch `KubeApiError` by `status` when a status is
 * expected (404 on a GET, 409 on a conflict) and let everything else travel up to cli/main.ts.
 */
import { DevloopError, EnvironmentError } from '../errors.js';

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

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
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

/** Classifies a transport error (no HTTP answer). Returns undefined when it is not one. */
export function networkError(error: unknown, server: string, context: string): EnvironmentError | undefined {
  const code = (error as { code?: string } | undefined)?.code;
  if (code && NETWORK_CODES.has(code)) {
    return new EnvironmentError(`cannot reach the cluster at ${server} (context ${context}): ${code}`, { hint: UNREACHABLE_HINT, cause: error });
  }
  if (code && TLS_CODES.has(code)) {
    return new EnvironmentError(`the cluster at ${server} (context ${context}) presented a certificate devloop cannot trust: ${code}`, {
      hint: 'The kubeconfig may be stale (the cluster was recreated): refresh it, or check certificate-authority-data for this cluster.',
      cause: error,
    });
  }
  return undefined;
}

/** Classifies an HTTP error answer: 401/403 become environment errors, the rest KubeApiError. */
export function httpError(status: number, method: string, urlPath: string, body: KubeStatus | undefined, who: { server: string; context: string; user: string }): DevloopError {
  if (status === 401) {
    return new EnvironmentError(`the cluster at ${who.server} refused the credentials of user "${who.user}" (context ${who.context}): ${body?.message ?? 'Unauthorized'}`, {
      hint: 'Log in again or refresh the kubeconfig (expired token or certificate).',
    });
  }
  if (status === 403 && /because it is being terminated/.test(body?.message ?? '')) {
    return new EnvironmentError(body!.message!, {
      hint: 'The namespace is still being deleted (a down or kubectl delete moments ago): wait until it is gone (kubectl get namespace), then run again.',
    });
  }
  if (status === 403) {
    return new KubeForbiddenError(`forbidden: ${body?.message ?? `${method} ${urlPath}`}`, {
      hint: `The user "${who.user}" of context ${who.context} lacks this permission: ask a cluster admin for a Role granting it, or use another context (deploy.kubeContext).`,
    });
  }
  return new KubeApiError(status, method, urlPath, body);
}

export function isNotFound(error: unknown): boolean {
  return error instanceof KubeApiError && error.status === 404;
}
