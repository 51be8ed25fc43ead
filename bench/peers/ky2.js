// What a dashboard using ky 2 ships: ky itself (hooks are the page's own code).
export { default } from 'ky';
