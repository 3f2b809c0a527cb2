import { loadHeraldConfig, preloadHeraldConfig } from './config.module';
import { ConfigurationError } from './environment';

describe('loadHeraldConfig after preloadHeraldConfig', () => {
  it('gives the start the configuration loaded ahead of it, generated development secret included, and only that start', () => {
    const raw = { PORT: '4000' };
    const ahead = preloadHeraldConfig(raw);
    expect(loadHeraldConfig(raw)).toBe(ahead);
    const again = loadHeraldConfig(raw);
    expect(again).not.toBe(ahead);
    expect(again.jwt.secret).not.toBe(ahead.jwt.secret);
  });

  it('never gives one environment the configuration preloaded from another, even with the same variables', () => {
    const first = { V8_NEW_SPACE_MAX_MB: '8' };
    const ahead = preloadHeraldConfig(first);
    const other = loadHeraldConfig({ ...first });
    expect(other).not.toBe(ahead);
    expect(other.jwt.secret).not.toBe(ahead.jwt.secret);
    expect(loadHeraldConfig(first)).toBe(ahead);
  });

  it('validates again when the environment changed after the preload', () => {
    const raw: Record<string, string | undefined> = { PORT: '4000' };
    preloadHeraldConfig(raw);
    raw.PORT = '5000';
    expect(loadHeraldConfig(raw).port).toBe(5000);
    preloadHeraldConfig(raw);
    raw.PORT = 'eighty';
    expect(() => loadHeraldConfig(raw)).toThrow(new ConfigurationError(['PORT must be an integer number']));
  });

  it('refuses a bad environment with the ConfigurationError the start gives', () => {
    const raw = { PORT: 'eighty' };
    expect(() => preloadHeraldConfig(raw)).toThrow(new ConfigurationError(['PORT must be an integer number']));
    expect(() => loadHeraldConfig(raw)).toThrow(new ConfigurationError(['PORT must be an integer number']));
  });
});
