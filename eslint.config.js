// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// The layers that must run anywhere (core, fields, query, normalise, rules, engine) (workers, a distributed runtime, a browser) import nothing
// from Node and nothing from the layers above them (see docs/ARCHITECTURE.md).
const nodeBuiltins = { group: ['node:*'], message: 'This layer is pure: pass data in instead of importing Node built-ins.' };
const upward = (dirs) => dirs.map((d) => ({ group: [`**/${d}/*`], message: `Dependencies point one way: this layer may not import from src/${d}.` }));

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'bench/.corpus/**', 'bin/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': ['error', { selector: 'ExportAllDeclaration', message: 'Named exports only: no export * barrels.' }],
    },
  },
  {
    files: ['src/core/**', 'src/fields/**'],
    ignores: ['**/*.test.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [nodeBuiltins, ...upward(['query', 'rules', 'engine', 'normalise', 'pipeline', 'sources', 'sinks', 'cli'])] }] },
  },
  {
    files: ['src/query/**'],
    ignores: ['**/*.test.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [nodeBuiltins, ...upward(['rules', 'engine', 'normalise', 'pipeline', 'sources', 'sinks', 'cli'])] }] },
  },
  {
    files: ['src/normalise/**'],
    ignores: ['**/*.test.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [nodeBuiltins, ...upward(['rules', 'engine', 'pipeline', 'sources', 'sinks', 'cli'])] }] },
  },
  {
    files: ['src/rules/**'],
    ignores: ['**/*.test.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [nodeBuiltins, ...upward(['engine', 'pipeline', 'sources', 'sinks', 'cli'])] }] },
  },
  {
    files: ['src/engine/**'],
    ignores: ['**/*.test.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [nodeBuiltins, ...upward(['pipeline', 'sources', 'sinks', 'cli'])] }] },
  },
  {
    // Investigation and response plans are data in, data out (the store and the AWS clients are passed in).
    files: ['src/investigate/**', 'src/respond/**'],
    ignores: ['**/*.test.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [nodeBuiltins, ...upward(['pipeline', 'sources', 'sinks', 'cli'])] }] },
  },
  {
    files: ['src/sources/**', 'src/sinks/**'],
    ignores: ['**/*.test.ts'],
    // Sources and sinks depend on core only (bytes in, bytes out): parsing and envelopes are the pipeline's.
    rules: { 'no-restricted-imports': ['error', { patterns: upward(['fields', 'query', 'normalise', 'rules', 'engine', 'pipeline', 'cli']) }] },
  },
  {
    files: ['**/*.js'],
    ...tseslint.configs.disableTypeChecked,
  },
);
