// What a dashboard using ky 1 ships: ky itself (hooks are the page's own code).
export { default } from 'ky1';
