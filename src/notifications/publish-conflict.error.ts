/** A publish `id` reused with another body inside the history window: nothing was delivered (section 6). */
export class PublishConflictError extends Error {
  constructor(readonly id: string) {
    super(
      `id ${JSON.stringify(id)} was already used with a different body within the history window; nothing was delivered. ` +
        'Repeat the original request unchanged, or use a new id for a new notification.',
    );
    this.name = 'PublishConflictError';
  }
}
