import { defineConfig } from 'vitest/config';
import { defaultServerConditions } from 'vite';

// Workspace packages export their TypeScript sources under the "@junction/source"
// condition, so tests run against src/ without a build step.
const conditions = ['@junction/source', ...defaultServerConditions];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    projects: ['core', 'protocols/*', 'packages/*', 'test'].map((dir) => ({
      extends: true,
      test: {
        name: dir.replace('/*', ''),
        include: [dir === 'test' ? 'test/**/*.test.ts' : `${dir}/test/**/*.test.ts`],
      },
    })),
  },
});
