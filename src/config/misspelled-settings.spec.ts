import { settingNames } from './environment';
import { misspelledSettings } from './misspelled-settings';

describe('misspelledSettings', () => {
  const settings = settingNames();

  it('names a variable one or two edits from a setting, with the setting it likely meant', () => {
    const environment = { REDIS_ULR: 'redis://x', JWT_SECRETS: 'secret', HEARTBEAT_M: '1000', JWT_AUDIENC: 'herald', LOGLEVEL: 'debug' };
    expect(misspelledSettings(environment, settings)).toEqual([
      { name: 'REDIS_ULR', meant: 'REDIS_URL' },
      { name: 'JWT_SECRETS', meant: 'JWT_SECRET' },
      { name: 'HEARTBEAT_M', meant: 'HEARTBEAT_MS' },
      { name: 'JWT_AUDIENC', meant: 'JWT_AUDIENCE' },
      { name: 'LOGLEVEL', meant: 'LOG_LEVEL' },
    ]);
  });

  it('leaves alone the settings themselves and the variables a shell, npm, Node, Docker or Kubernetes sets', () => {
    const ordinary = [
      ...settings,
      ...['HOME', 'HOST', 'HOSTNAME', 'PATH', 'PWD', 'OLDPWD', 'USER', 'SHELL', 'SHLVL', 'TERM', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR', 'EDITOR', 'CI', 'DEBUG', 'NO_COLOR', 'FORCE_COLOR'],
      ...['NODE_OPTIONS', 'NODE_VERSION', 'NODE_PATH', 'NODE_EXTRA_CA_CERTS', 'YARN_VERSION', 'npm_config_port', 'npm_lifecycle_event', 'INIT_CWD'],
      ...['KUBERNETES_SERVICE_HOST', 'KUBERNETES_SERVICE_PORT', 'KUBERNETES_PORT', 'HERALD_PORT', 'HERALD_SERVICE_HOST', 'HERALD_SERVICE_PORT', 'HERALD_INTERNAL_PORT'],
      ...['REDIS_PORT', 'REDIS_SERVICE_HOST', 'REDIS_SERVICE_PORT', 'REDIS_PORT_6379_TCP', 'REDIS_PORT_6379_TCP_ADDR', 'REDIS_PORT_6379_TCP_PORT'],
      ...['INVOCATION_ID', 'JOURNAL_STREAM', 'SYSTEMD_EXEC_PID', 'NOTIFY_SOCKET', 'MAINPID'],
    ];
    expect(misspelledSettings(Object.fromEntries(ordinary.map((name) => [name, 'x'])), settings)).toEqual([]);
  });

  it('takes the nearest setting when more than one is close', () => {
    // One edit from WEBHOOK_BATCH_MAX, two from WEBHOOK_BATCH_MS.
    expect(misspelledSettings({ WEBHOOK_BATCH_MAXS: '10' }, settings)).toEqual([{ name: 'WEBHOOK_BATCH_MAXS', meant: 'WEBHOOK_BATCH_MAX' }]);
  });
});
