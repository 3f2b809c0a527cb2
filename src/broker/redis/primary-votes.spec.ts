import { PrimaryVotes } from './primary-votes';

const SENTINELS = ['s1:26379', 's2:26379', 's3:26379', 's4:26379'];

describe('PrimaryVotes', () => {
  it('follows the server most sentinels name over one the sentinel listed first names, though both say they are primary', () => {
    const votes = new PrimaryVotes(SENTINELS.slice(0, 3));
    votes.named(0, 'old:6379');
    votes.confirmed('old:6379');
    expect(votes.outcome()).toBeUndefined();
    votes.named(1, 'new:6379');
    votes.named(2, 'new:6379');
    expect(votes.outcome()).toBeUndefined();
    votes.confirmed('new:6379');
    expect(votes.outcome()).toEqual({ primary: 'new:6379' });
  });

  it('settles once a strict majority of the sentinels listed name a server that checks out, whatever the others have yet to say', () => {
    const votes = new PrimaryVotes(SENTINELS.slice(0, 3));
    votes.named(1, 'new:6379');
    votes.named(2, 'new:6379');
    votes.confirmed('new:6379');
    expect(votes.outcome()).toEqual({ primary: 'new:6379' });
  });

  it('waits for every sentinel when half of them agree: the other half could name another server as many times', () => {
    const votes = new PrimaryVotes(SENTINELS);
    votes.named(0, 'a:6379');
    votes.named(1, 'a:6379');
    votes.confirmed('a:6379');
    expect(votes.outcome()).toBeUndefined();
    votes.failed(2, 's3:26379: timed out');
    votes.failed(3, 's4:26379 does not know mymaster');
    expect(votes.outcome()).toEqual({ primary: 'a:6379' });
  });

  it('passes over the server a majority names when it is down or a replica, for one a minority names that checks out', () => {
    const votes = new PrimaryVotes(SENTINELS.slice(0, 3));
    votes.named(0, 'old:6379');
    votes.named(1, 'old:6379');
    votes.named(2, 'new:6379');
    votes.confirmed('new:6379');
    // The majority's server is still being checked: it would win if it checked out.
    expect(votes.outcome()).toBeUndefined();
    votes.refuted('old:6379', 'slave');
    expect(votes.outcome()).toEqual({ primary: 'new:6379' });
  });

  it('breaks a tie between servers that check out for the one named by the sentinel listed first, whichever answered first', () => {
    const votes = new PrimaryVotes(SENTINELS);
    votes.named(3, 'late:6379');
    votes.confirmed('late:6379');
    votes.named(1, 'early:6379');
    votes.confirmed('early:6379');
    votes.failed(0, 's1:26379: refused');
    votes.failed(2, 's3:26379: refused');
    expect(votes.outcome()).toEqual({ primary: 'early:6379' });
  });

  it('tells why each sentinel gave no primary, in their order, when no server named checks out', () => {
    const votes = new PrimaryVotes(SENTINELS.slice(0, 3));
    votes.named(2, 'replica:6379');
    votes.refuted('replica:6379', 'slave');
    votes.named(1, 'gone:6379');
    votes.failed(0, 's1:26379 does not know mymaster');
    expect(votes.outcome()).toBeUndefined();
    votes.refuted('gone:6379', 'unreachable (connect ECONNREFUSED)');
    expect(votes.outcome()).toEqual({
      failures: ['s1:26379 does not know mymaster', 's2:26379 names gone:6379, which is unreachable (connect ECONNREFUSED)', 's3:26379 names replica:6379, which is slave'],
    });
  });
});
