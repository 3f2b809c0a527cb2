import { MetricsService } from './metrics.service';

describe('MetricsService', () => {
  it('counts tallied frames at each scrape, each increment once', async () => {
    const metrics = new MetricsService();
    for (let i = 0; i < 3; i++) metrics.framesOut.inc('welcome');
    metrics.framesIn.inc('join');
    let text = await metrics.scrape();
    expect(text).toContain('herald_frames_out_total{event="welcome"} 3');
    expect(text).toContain('herald_frames_in_total{event="join"} 1');
    metrics.framesOut.inc('welcome');
    metrics.framesOut.inc('joined');
    text = await metrics.scrape();
    expect(text).toContain('herald_frames_out_total{event="welcome"} 4');
    expect(text).toContain('herald_frames_out_total{event="joined"} 1');
    expect(await metrics.scrape()).toContain('herald_frames_out_total{event="welcome"} 4');
  });

  it('runs every scrape listener before reading the registry', async () => {
    const metrics = new MetricsService();
    let connections = 0;
    metrics.onScrape(() => metrics.connections.set(connections));
    connections = 7;
    expect(await metrics.scrape()).toContain('herald_connections 7');
    connections = 2;
    expect(await metrics.scrape()).toContain('herald_connections 2');
  });
});
