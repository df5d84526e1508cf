/**
 * The STOMP producers' pacing (both clients): at most `limit` RECEIPTs outstanding, so a
 * producer never runs more than ~limit x receiptEvery SENDs ahead of what the broker took.
 */
export class ReceiptWindow {
  private outstanding = 0;
  private wake: (() => void) | undefined;

  constructor(private readonly limit: number) {}

  /** A SEND asking for a receipt went out. */
  sent(): void {
    this.outstanding++;
  }

  /** Its RECEIPT came back. */
  readonly receipted = (): void => {
    this.outstanding--;
    if (this.wake && this.outstanding < this.limit) {
      const w = this.wake;
      this.wake = undefined;
      w();
    }
  };

  get full(): boolean {
    return this.outstanding >= this.limit;
  }

  /** Settles once a receipt frees a place. */
  room(): Promise<void> {
    return new Promise((r) => (this.wake = r));
  }
}
