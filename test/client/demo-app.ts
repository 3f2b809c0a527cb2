import { jest } from '@jest/globals';
import type { DynamicModule } from '@nestjs/common';
import { AppModule } from '../../src/app.module';
import { DemoModule } from '../../src/demo/demo.module';
import { createTestApp, type TestApp } from '../support/test-app';

/**
 * A test app that serves the demo. Until app.module.ts imports DemoModule itself, this adds
 * it the way app.module.ts is meant to (enabled, with the development token endpoint).
 */
export async function createDemoApp(env: Record<string, string> = {}): Promise<TestApp> {
  const forRoot = AppModule.forRoot.bind(AppModule);
  const spy = jest.spyOn(AppModule, 'forRoot').mockImplementation((raw) => {
    const module = forRoot(raw);
    const imports = module.imports ?? [];
    if (imports.some((imported) => (imported as DynamicModule).module === DemoModule)) return module;
    return { ...module, imports: [...imports, DemoModule.register({ enabled: true, tokenEndpoint: true })] };
  });
  try {
    return await createTestApp({ DEMO_ENABLED: 'true', ...env });
  } finally {
    spy.mockRestore();
  }
}
