import { render } from 'preact';
import { App } from './app.tsx';
import { takeTokenFromFragment } from './session.ts';
import './style.css';

// First, before anything renders or fetches: the token leaves the address bar at once.
takeTokenFromFragment();

const root = document.getElementById('app');
if (root) render(<App />, root);
