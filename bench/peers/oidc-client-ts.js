// What a dashboard using oidc-client-ts ships (size only: it is not a fetch wrapper).
export { UserManager, WebStorageStateStore } from 'oidc-client-ts';
