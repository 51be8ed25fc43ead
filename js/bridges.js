// Adapters from the Clerk and Supabase browser clients to session-keeper's TokenProvider,
// and installGlobal's template globals.
// Duck-typed: neither SDK is a dependency; anything with the documented shape works.
// Plain JS on purpose: each method is a one-line delegation whose promise the manager
// already bounds by tokenTimeoutMs, and the functions must be the object's own properties
// so that `{ ...supabaseTokenProvider(supabase), loginUrl }` keeps them.
import { SessionError } from './runtime.js';

const isFunction = (value) => typeof value === 'function';
const configError = (message) => new SessionError('config', message);

// Clerk keeps its session token fresh by itself (a timer before exp and a poller), and
// session.getToken() answers from that cache. So the manager's scheduled refresh costs no
// request; only a forced refresh (after a 401) skips the cache. No polling is added here.
export function clerkProvider(clerk) {
  if (clerk == null || typeof clerk !== 'object' || !isFunction(clerk.addListener)) {
    throw configError('clerkTokenProvider(clerk) needs the Clerk instance (window.Clerk after Clerk.load(), or useClerk()): an object with session and addListener');
  }
  return {
    getToken: ({ forceRefresh } = {}) => {
      const session = clerk.session;
      if (!session) return null;
      return session.getToken(forceRefresh ? { skipCache: true } : undefined);
    },
    checkSession: () => clerk.session?.status === 'active',
    // Clerk reports a signed-out user as `session === null` (undefined means "still loading").
    // A session with a new id is a sign-in: its token is pushed, which ends a halted
    // (signed-out or refused) manager. Clerk's own token refreshes are not pushed: the
    // manager reads them from Clerk's cache on schedule.
    subscribe: (listener) => {
      let id = clerk.session?.id;
      return clerk.addListener(({ session }) => {
        if (session === null) {
          id = null;
          listener(null);
        } else if (session && session.id !== id) {
          id = session.id;
          session.getToken().then((token) => token && listener(token), () => {});
        }
      });
    },
  };
}

// The backend wants the user's session access token, never the anon key the client was
// created with. getSession() refreshes by itself when the token is close to its end;
// refreshSession() mints a new one. onAuthStateChange tells the manager about refreshes
// Supabase ran on its own (TOKEN_REFRESHED) and about sign-outs.
export function supabaseProvider(client) {
  const auth = client?.auth;
  if (auth == null || ![auth.getSession, auth.refreshSession, auth.onAuthStateChange].every(isFunction)) {
    throw configError('supabaseTokenProvider(client) needs a Supabase client (createClient(url, key)): an object with auth.getSession, auth.refreshSession and auth.onAuthStateChange');
  }
  const session = async (refresh) => {
    const { data, error } = await (refresh ? auth.refreshSession() : auth.getSession());
    // Without a session, refreshSession() answers AuthSessionMissingError: that is "signed out".
    if (error && error.name !== 'AuthSessionMissingError') throw error;
    return data?.session ?? null;
  };
  return {
    getToken: async ({ forceRefresh } = {}) => (await session(forceRefresh))?.access_token ?? null,
    checkSession: async () => (await session(false)) !== null,
    subscribe: (listener) => {
      const { data } = auth.onAuthStateChange((event, current) => {
        if (event === 'SIGNED_OUT') listener(null);
        else if (current?.access_token) listener(current.access_token);
      });
      return () => data.subscription.unsubscribe();
    },
  };
}

// installGlobal(): the functions server-rendered templates call as globals, bound to one
// manager. A second call stops the previous manager, so a template can re-install safely.
const GLOBALS = ['fetchWithAuth', 'triggerSessionRecoveryCheck', 'updateCredits', 'waitForAuthStability'];

export function install(manager) {
  const previous = globalThis.sessionKeeper;
  if (previous && previous !== manager) previous.stop();
  globalThis.sessionKeeper = manager;
  for (const name of GLOBALS) globalThis[name] = manager[name].bind(manager);
  // Module scripts load asynchronously: templates can wait for this instead of polling.
  globalThis.dispatchEvent?.(new CustomEvent('session-keeper-ready', { detail: manager }));
}
