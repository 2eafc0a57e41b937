// ESLint for Ospost's browser code (`make lint`): the ES modules in static/js.
import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import globals from 'globals';

// A page's modules share nothing through the global object.
const GLOBAL_OBJECT = /^(window|globalThis|self)$/;

export default defineConfig([
  globalIgnores(['node_modules/', '.venv/', 'static/tmp/', 'test-results/']),
  js.configs.recommended,
  {
    files: ['static/js/**/*.js'],
    languageOptions: {
      ecmaVersion: 'latest',
      sourceType: 'module',
      globals: globals.browser,
    },
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: `Program > ExpressionStatement > AssignmentExpression > MemberExpression.left[object.name=${GLOBAL_OBJECT}]`,
          message: 'No globals: export it from a module and import it where it is needed.',
        },
      ],
    },
  },
  {
    // The push service worker: a classic script with the worker's globals.
    files: ['static/sw.js'],
    languageOptions: {
      ecmaVersion: 'latest',
      sourceType: 'script',
      globals: globals.serviceworker,
    },
  },
  {
    files: ['eslint.config.js'],
    languageOptions: { sourceType: 'module', globals: globals.node },
  },
]);
