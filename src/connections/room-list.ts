/**
 * The rooms of one connection: usually one or two, at most MAX_ROOMS_PER_CONNECTION. At that
 * size an array is searched as fast as a Set and costs half the memory, which across tens of
 * thousands of idle connections is what matters.
 */
export class RoomList implements Iterable<string> {
  private readonly names: string[] = [];
  /** Joins of other rooms under way (ConnectionHub's buffered joins): they count against the limit too. */
  joining = 0;

  get size(): number {
    return this.names.length;
  }

  has(room: string): boolean {
    return this.names.includes(room);
  }

  add(room: string): void {
    if (!this.names.includes(room)) this.names.push(room);
  }

  delete(room: string): boolean {
    const index = this.names.indexOf(room);
    if (index === -1) return false;
    this.names.splice(index, 1);
    return true;
  }

  clear(): void {
    this.names.length = 0;
  }

  [Symbol.iterator](): Iterator<string> {
    return this.names[Symbol.iterator]();
  }
}
