// tollgate dashboard: sign in with a root key, then the pages of the hash route. Every number on
// a page comes from tollgate's public API (lib/api.ts), /metrics or /readyz.

import { render } from 'preact';

import { App } from './App';
import './styles.css';

render(<App />, document.getElementById('app')!);
