// The engine as an OAuth 2.1 resource server: the `auth` option, and the application's
// `verify(token, signal)` run for the engine's `verifyToken` events. What is challenged, with
// which status and scopes, and what a grant lets through is the engine's; here a verdict is
// only carried back.

/**
 * Thrown by `verify` to refuse a token: its requests get 401 `invalid_token` with this message
 * as the description the client sees. Any other throw means the token could not be verified
 * now (503 with Retry-After).
 */
export class InvalidToken extends Error {
  constructor(message = 'the token is not valid') {
    super(message);
    this.name = 'InvalidToken';
  }
}

/** The `auth` option as the engine takes it: everything but `verify`. */
export function engineAuthOptions(auth) {
  if (auth === undefined) return undefined;
  if (typeof auth?.verify !== 'function') throw new TypeError('auth.verify: a function of the token is needed');
  // Passed whole, so that the engine refuses a misspelt field instead of ignoring it.
  const { verify: _verify, ...options } = auth;
  return options;
}

/** `verify` for each token the engine asks about, each with an AbortSignal its cancellation fires. */
export class Verifier {
  #host;
  #verify;
  /** verification id -> the AbortController of the `verify` working on it */
  #running = new Map();

  constructor(verify, host) {
    this.#verify = verify;
    this.#host = host;
  }

  /** `verify` calls not yet settled. */
  get running() {
    return this.#running.size;
  }

  /** Whether `event` is one of this module's; if so, it is handled. */
  dispatch(event) {
    switch (event.type) {
      case 'verifyToken':
        this.#start(event.verification, event.token);
        return true;
      case 'verificationCancelled':
        this.#cancel(event.verification);
        return true;
      default:
        return false;
    }
  }

  /** Cancels every verification: the engine is gone. */
  cancelAll() {
    for (const id of [...this.#running.keys()]) this.#cancel(id);
  }

  #start(id, token) {
    const abort = new AbortController();
    this.#running.set(id, abort);
    // Not inline: application code never runs inside the transport's event loop.
    const work = Promise.resolve().then(() => this.#run(id, token, abort));
    // A host that ends a request's work with the request (Workers) is told to wait for it.
    if (this.#host.waitsForHandlers) this.#host.handlerStarted(work);
  }

  async #run(id, token, abort) {
    let answer;
    try {
      answer = verdict(await this.#verify(token, abort.signal));
    } catch (error) {
      if (error instanceof InvalidToken) answer = { refused: error.message };
      else answer = { unavailable: abort.signal.aborted ? undefined : error };
    }
    // Cancelled meanwhile: the engine answered the requests already, and would refuse this.
    if (this.#running.get(id) !== abort) return;
    this.#running.delete(id);
    if (answer.unavailable !== undefined) console.error('mcpwire: auth.verify failed; the token could not be verified', answer.unavailable);
    try {
      this.#host.command((engine, now) => {
        if (answer.granted !== undefined) {
          const { principal, scopes, validForMs } = answer.granted;
          return engine.tokenGranted(now, id, principal, scopes, validForMs);
        }
        if (answer.refused !== undefined) return engine.tokenRefused(now, id, answer.refused);
        return engine.tokenUnavailable(now, id);
      });
    } catch (error) {
      // The deadline passed between the verdict and here, or the server shut down.
      if (!isGone(error)) console.error('mcpwire: could not answer a token verification', error);
    }
  }

  #cancel(id) {
    const abort = this.#running.get(id);
    if (abort === undefined) return;
    this.#running.delete(id);
    abort.abort(new DOMException('the token verification was cancelled: its deadline passed, or the server shut down', 'AbortError'));
  }
}

/**
 * What `verify` returned, as a verdict: `{ granted }` for `{ principal, scopes, expiresAt |
 * expiresIn }`; `{ refused }` for `{ refused: description }`, `null`, `undefined` or `false`.
 * A grant that cannot be read is the verifier's bug: `{ unavailable }` (503).
 */
function verdict(result) {
  const refused = (description) => ({ refused: description });
  const broken = (what) => ({ unavailable: new TypeError(`auth.verify returned ${what}`) });
  if (result === null || result === undefined || result === false) return refused('the token is not valid');
  if (typeof result !== 'object') return broken(`a ${typeof result}`);
  if (result.refused !== undefined) return refused(typeof result.refused === 'string' ? result.refused : 'the token is not valid');
  const { principal } = result;
  if (typeof principal !== 'string' || principal.length === 0) return broken('a grant without a principal (a non-empty string)');
  // A space-separated string too, as a JWT's `scope` claim and introspection write them.
  const scopes = typeof result.scopes === 'string' ? result.scopes.split(' ').filter((s) => s.length > 0) : (result.scopes ?? []);
  if (!Array.isArray(scopes) || !scopes.every((s) => typeof s === 'string')) return broken('a grant whose scopes are not strings');
  let validForMs;
  if (result.expiresAt !== undefined) {
    const at = result.expiresAt instanceof Date ? result.expiresAt.getTime() : result.expiresAt * 1000;
    validForMs = at - Date.now();
  } else if (result.expiresIn !== undefined) {
    validForMs = result.expiresIn * 1000;
  }
  if (validForMs !== undefined) {
    if (typeof validForMs !== 'number' || Number.isNaN(validForMs)) return broken('a grant whose expiresAt or expiresIn is not a number');
    // Expired before it was given: its waiting requests would go through on an expired token.
    if (validForMs <= 0) return refused('the token has expired');
  }
  return { granted: { principal, scopes, validForMs } };
}

function isGone(error) {
  return typeof error?.message === 'string' && /^(stale_handle|shutting_down):/.test(error.message);
}
