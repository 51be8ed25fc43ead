// What a dashboard using axios with axios-auth-refresh ships.
export { default as axios } from 'axios';
export { createAuthRefresh } from 'axios-auth-refresh';
