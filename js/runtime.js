// The small runtime pieces session-keeper needs from JavaScript, in one module (each
// separate snippet file is one more request when a page loads the package). Everything
// asynchronous ends in one call back into the manager, `cb(kind, id, value)`, so the Rust
// side holds no future and creates no closure per call. Nothing here throws: every failure
// becomes a `cb` call.

// The error class session-keeper throws and rejects with. Branch on `code`, never on
// `message`: codes are stable, messages are for people.
export class SessionError extends Error {
  constructor(code, message, cause) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'SessionError';
    this.code = code;
  }
}

// Forwards an abort from the caller's signal to the manager's own controller (which also
// carries the request timeout). Used instead of AbortSignal.any, which Safari < 17.4,
// Firefox < 124 and Chrome < 116 lack. Returns the function that stops forwarding.
export function follow(from, to) {
  const forward = () => to.abort(from.reason);
  if (from.aborted) forward();
  else from.addEventListener('abort', forward);
  return () => from.removeEventListener('abort', forward);
}

// `cb(kind, id, value)` once `promise` settles: `kind` if it resolved, `kind + 1` if it
// rejected. Always later, never inside the call that started it.
function watch(promise, cb, kind, id) {
  Promise.resolve(promise).then((value) => cb(kind, id, value), (error) => cb(kind + 1, id, error));
}

// Calls `f(arg)` and watches what it returns; a synchronous throw counts as a rejection.
export function invoke(f, arg, cb, kind, id) {
  let returned;
  try {
    returned = f(arg);
  } catch (error) {
    returned = Promise.reject(error);
  }
  watch(returned, cb, kind, id);
}

// `cb(kind, 0, type)` on every `type` event of `target`; returns the function that stops.
export function listen(target, type, cb, kind) {
  const f = () => cb(kind, 0, type);
  target.addEventListener(type, f);
  return () => target.removeEventListener(type, f);
}

// One attempt of a prepared request: a clone when it may be sent again, with the bearer
// when there is one. Reports `cb(kind, id, [response, body, retryAfter])`, where the body
// text (read from a clone, so the caller keeps it) and `Retry-After` are read when `read`
// is 2, and the body of a 403 when it is 1; `kind + 1` with fetch's error when fetch
// failed or threw; `kind + 2` when the request itself could not be made.
export function send(fetch, request, replay, token, read, cb, kind, id) {
  // Aborted already (the caller gave up while a refresh ran): nothing is sent.
  if (request.signal.aborted) return watch(Promise.reject(request.signal.reason), cb, kind, id);
  let attempt;
  try {
    attempt = replay ? request.clone() : request;
    if (token) attempt.headers.set('Authorization', `Bearer ${token}`);
  } catch (error) {
    return watch(Promise.reject(error), cb, kind + 1, id);
  }
  invoke(fetch, attempt, async (k, i, response) => {
    if (k !== kind) return cb(k, i, response);
    if (!(response instanceof Response)) return cb(kind + 1, id, new TypeError('fetch resolved to something that is not a Response'));
    let body = null;
    let retryAfter = null;
    if (read === 2 || (read === 1 && response.status === 403)) {
      try { body = await response.clone().text(); } catch { /* an unreadable body is no body */ }
      retryAfter = response.headers.get('retry-after');
    }
    cb(kind, id, [response, body, retryAfter]);
  }, kind, id);
}
