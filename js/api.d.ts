
/** Why `getToken` is being called (passed to the provider and reported in events). */
export type RefreshReason = 'initial' | 'expiring' | 'unauthorized' | 'scheduled' | 'manual' | 'recovery';

/** What `getToken` is told. */
export interface TokenContext {
  /** True after a 401, on `refreshToken()` and in recovery: mint a new token, skip caches. */
  forceRefresh: boolean;
  reason: RefreshReason;
}

/** Where tokens come from. `clerkTokenProvider` and `supabaseTokenProvider` build one. */
export interface TokenProvider {
  /** The current token, a new one when `forceRefresh`; `null` when signed out. Bounded by `tokenTimeoutMs`. */
  getToken(ctx: TokenContext): Promise<string | null> | string | null;
  /** The provider's own session check (the third recovery probe). */
  checkSession?(): Promise<boolean> | boolean;
  /**
   * Lets a provider that refreshes on its own push each new token (adopted without a
   * `getToken` call) and `null` when the user signs out (the manager forgets the token and
   * sends nothing until a sign-in). A pushed token is a sign-in: it ends a halted session.
   * Returns the unsubscribe function, called by `stop()` and `free()`.
   */
  subscribe?(listener: (token: string | null) => void): (() => void) | void;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

/** `new SessionManager(config)`. Every field is checked; a bad one throws `SessionError` `config` naming it. */
export interface SessionConfig extends TokenProvider {
  /** Called once per expiry; default: `location.assign(loginUrl)` when `loginUrl` is set. */
  onSessionExpired?: () => void;
  /** http(s) URL of the login page. */
  loginUrl?: string;
  /** Scheduled refresh interval; refreshes come earlier when the token's `exp` demands. Default 50000. */
  refreshIntervalMs?: number;
  /** A token this close to its `exp` is never sent. Default 10000. */
  expiryMarginMs?: number;
  /** A `getToken` that has not settled by then counts as a failed refresh. Default 10000. */
  tokenTimeoutMs?: number;
  /** Each request (and each recovery probe) is aborted after this. Default 30000. */
  requestTimeoutMs?: number;
  /** Exact origins that may receive the bearer. Default `[location.origin]`. */
  allowedOrigins?: string[];
  /** localStorage keys to mirror the token under (`authToken`, `auth_token`, …). Default none. */
  storageKeys?: string[];
  /** At most one recovery check per this many ms, across tabs. Default 30000. */
  recoveryCooldownMs?: number;
  /** Must be on an allowed origin. Defaults `/api/users/credits` and `/auth/verify`. */
  endpoints?: { credits?: string; verify?: string };
  /** `updateCredits` retries: base·2ⁿ with jitter, capped. Defaults 3, 1000, 30000. */
  credits?: { maxRetries?: number; baseDelayMs?: number; maxDelayMs?: number };
  /** Default `globalThis.fetch`. */
  fetch?: typeof fetch;
  /** Default `warn`. */
  logLevel?: LogLevel;
  /**
   * The group of same-origin tabs that share this session. Default `'default'`. Tabs of a
   * group hand each new token to one another by `BroadcastChannel` message (only its expiry
   * is stored, in IndexedDB, so that the next refresh knows one is on its way), refresh one
   * at a time, let one of them lead the scheduled refresh, and a sign-out in one signs out
   * all. Tokens stay in memory either way. `false`: this manager keeps to itself.
   */
  tabs?: string | false;
  /**
   * The clock the manager reads and arms its one timer on. Default `Date.now` and the page's
   * timers. Tests pass a virtual one; a `now()` that throws or returns a non-number falls
   * back to `Date.now()`.
   */
  clock?: SessionClock;
}

/** `config.clock`: all three functions are required. */
export interface SessionClock {
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Stable error codes: branch on these, never on `message`. */
export type SessionErrorCode =
  | 'config'
  | 'unauthenticated'
  | 'refresh_failed'
  | 'timeout'
  | 'network'
  | 'server'
  | 'bad_response'
  | 'freed';

/** Every error session-keeper throws or rejects with. Messages never contain a token. */
export class SessionError extends Error {
  constructor(code: SessionErrorCode, message: string, cause?: unknown);
  readonly name: 'SessionError';
  readonly code: SessionErrorCode;
}

/** Each event's detail. */
export interface SessionEventMap {
  /** `provider`: pushed by `subscribe`; `tab`: another tab of the session refreshed it. */
  tokenRefreshed: { expiresAt: number | null; reason: RefreshReason | 'provider' | 'tab' };
  refreshFailed: { code: SessionErrorCode; message: string; reason: RefreshReason };
  sessionExpired: { reason: 'unauthorized' | 'unauthenticated' | 'refresh_failed' | 'signed_out_elsewhere' };
  recoveryCheck: { trigger: string };
  recovered: { trigger: string; unhealthy: Array<'credits' | 'verify' | 'checkSession'> };
  creditsUpdated: { credits: number };
  stateChanged: { authenticated: boolean; expiresAt: number | null };
}

export type SessionEvent = keyof SessionEventMap;

/** What `triggerSessionRecoveryCheck` resolves with. */
export interface RecoveryOutcome {
  ran: boolean;
  reason: 'cooldown' | 'healthy' | 'recovered' | 'failed';
  trigger: string;
}

export interface UpdateCreditsOptions {
  /** Read with `?refresh=true`, past any server-side cache. */
  forceRefresh?: boolean;
}

export interface StabilityOptions {
  /** Give up (resolve false) after this. Default 10000. */
  maxWaitMs?: number;
  /** Poll interval. Default 500. */
  intervalMs?: number;
}

/** Keeps one login session alive: `fetchWithAuth`, scheduled refresh, events. */
export class SessionManager {
  /** An invalid config throws `SessionError` code `config`, naming the field. */
  constructor(config: SessionConfig);
  /** Scheduled refresh (every `refreshIntervalMs`, earlier when `exp` demands) and the page-lifecycle re-checks; a real sign-in. */
  start(): void;
  /** Cancels the refresh timer and removes every listener the manager added. */
  stop(): void;
  /** Stops, forgets the token, clears the storage mirror and tells other tabs. */
  signOut(): Promise<void>;
  /** `fetch` with the bearer added for allowed origins, refreshed and retried once on 401. */
  fetchWithAuth(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
  /** Forces a refresh (shared with any in flight) and resolves with the new token; a real sign-in. */
  refreshToken(): Promise<string>;
  /** Whether the manager holds a token that has not expired. */
  readonly isAuthenticated: boolean;
  /** When the current token expires, in ms since the epoch (page clock), or `null`. */
  readonly tokenExpiresAt: number | null;
  /**
   * Whether this tab leads the scheduled refresh of its group of tabs (`tabs`): it holds the
   * leader's Web Lock, or the browser has no Web Locks and every started tab leads.
   */
  readonly isLeader: boolean;
  /** A session-recovery check, unless one ran within `recoveryCooldownMs` in any tab. */
  triggerSessionRecoveryCheck(trigger?: string): Promise<RecoveryOutcome>;
  /** Reads the credits counter, healing a restarted backend on the way. */
  updateCredits(options?: UpdateCreditsOptions): Promise<number>;
  /** True once the provider, the manager and the token mirror agree; false after `maxWaitMs`. */
  waitForAuthStability(options?: StabilityOptions): Promise<boolean>;
  /** Calls `listener` with each `event`'s detail; returns the function that unsubscribes it. */
  on<E extends SessionEvent>(event: E, listener: (detail: SessionEventMap[E]) => void): () => void;
  /** Tears everything down; every method afterwards throws or rejects with code `freed`. */
  free(): void;
  [Symbol.dispose](): void;
}

/**
 * For server-rendered templates: builds and starts a manager, sets `window.fetchWithAuth`,
 * `triggerSessionRecoveryCheck`, `updateCredits`, `waitForAuthStability` and
 * `window.sessionKeeper`, then dispatches `session-keeper-ready`. A second call stops the
 * previous manager.
 */
export function installGlobal(config: SessionConfig): SessionManager;
/** A `TokenProvider` over a Clerk instance; throws `SessionError` `config` for anything else. */
export function clerkTokenProvider(clerk: ClerkLike): TokenProvider;
/** A `TokenProvider` over a Supabase client; throws `SessionError` `config` for anything else. */
export function supabaseTokenProvider(client: SupabaseClientLike): TokenProvider;

/** The part of a Clerk session the bridge uses (`@clerk/clerk-js` `Clerk.session`). */
export interface ClerkSessionLike {
  /** A new id is a sign-in: the bridge pushes its token to the manager. */
  readonly id?: string;
  readonly status?: string;
  getToken(options?: { skipCache?: boolean }): Promise<string | null>;
}

/** The part of a Clerk instance the bridge uses (`window.Clerk`, `useClerk()`). */
export interface ClerkLike {
  /** `null` when signed out, `undefined` while loading. */
  readonly session: ClerkSessionLike | null | undefined;
  addListener(listener: (resources: { session?: ClerkSessionLike | null }) => void): () => void;
}

/** The part of a Supabase session the bridge uses. */
export interface SupabaseSessionLike {
  access_token: string;
}

/** The part of a Supabase client the bridge uses (`createClient(url, anonKey)`). */
export interface SupabaseClientLike {
  auth: {
    getSession(): Promise<{ data: { session: SupabaseSessionLike | null }; error: unknown }>;
    refreshSession(): Promise<{ data: { session: SupabaseSessionLike | null }; error: unknown }>;
    onAuthStateChange(
      callback: (event: string, session: SupabaseSessionLike | null) => void,
    ): { data: { subscription: { unsubscribe(): void } } };
  };
}

declare global {
  /** What `installGlobal(config)` sets, for templates written against the old globals. */
  interface Window {
    sessionKeeper?: SessionManager;
    fetchWithAuth?: SessionManager['fetchWithAuth'];
    triggerSessionRecoveryCheck?: SessionManager['triggerSessionRecoveryCheck'];
    updateCredits?: SessionManager['updateCredits'];
    waitForAuthStability?: SessionManager['waitForAuthStability'];
  }
  interface WindowEventMap {
    /** A recovery check re-established the session (detail as the `recovered` event). */
    'auth-recovered': CustomEvent<SessionEventMap['recovered']>;
    /** `installGlobal` finished: the globals are set. */
    'session-keeper-ready': CustomEvent<SessionManager>;
  }
}
