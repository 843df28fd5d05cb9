// Lint rules that encode the house style (STYLE.md §18, §19).
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: ['**/dist/**', '**/node_modules/**', 'proto/src/gen/**', '**/*.mjs', '**/*.cjs', '**/*.py', '.data/**', 'vitest.config.ts'],
  },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: {
        project: ['./*/tsconfig.json', './core/*/tsconfig.json', './plugins/*/tsconfig.json', './examples/*/tsconfig.json', './tsconfig.tests.json'],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
      'no-restricted-syntax': ['error', { selector: 'ExportAllDeclaration[exportKind="value"]', message: 'Use explicit named exports.' }],
      'no-restricted-imports': ['error', { patterns: [
        { group: ['@spire-ts/*/src/*', '@spire-ts/*/dist/*'], message: 'Import packages through their public entry points.' },
      ] }],
    },
  },
  {
    files: ['core/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { group: ['@spire-ts/*/src/*', '@spire-ts/*/dist/*'], message: 'Import packages through their public entry points.' },
        { group: ['@spire-ts/server-*', '@spire-ts/agent-*', '**/plugins/**'], message: 'The core never imports a plugin: plugins are child processes.' },
      ] }],
    },
  },
  {
    // Tests, CLIs and benches may print.
    files: ['**/test/**/*.ts', '**/bin/**/*.ts', '**/src/cli.ts', '**/src/main.ts', '**/bench/**/*.ts', 'examples/**/*.ts'],
    rules: { 'no-console': 'off' },
  },
);
