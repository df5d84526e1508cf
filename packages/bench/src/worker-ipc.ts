/**
 * The child's side of the parent <-> load-process protocol (workers.ts is the parent's),
 * shared by every load worker: { cmd: 'start', job } runs the job, any other cmd is answered
 * by `answer` (counts, samples), { cmd: 'stop' } stops and exits. A job that fails reports
 * its error and exits.
 */
export interface JobHandlers<J> {
  run(job: J): Promise<void>;
  /** Jobs whose run() resolving means set up (the parent then may start the other side). */
  readyWhenRun?(job: J): boolean;
  /**
   * The reply to a cmd other than start and stop, or undefined for none (commands the parent
   * only tells, such as `received`, carry their fields in `msg`).
   */
  answer(cmd: string, msg: Record<string, unknown>): object | undefined;
  /** Closes the job's connections; the process exits right after. */
  stop(): void;
}

export function serveJobs<J>(h: JobHandlers<J>): void {
  process.on('message', (msg: { cmd: string; job?: J } & Record<string, unknown>) => {
    if (msg.cmd === 'start') {
      const job = msg.job!;
      const run = h.run(job);
      if (h.readyWhenRun?.(job)) void run.then(() => process.send!({ ready: true }));
      run.catch((err: unknown) => {
        process.send!({ error: String((err as Error)?.stack ?? err) });
        process.exit(1);
      });
    } else if (msg.cmd === 'stop') {
      h.stop();
      setTimeout(() => process.exit(0), 50);
    } else {
      const reply = h.answer(msg.cmd, msg);
      if (reply) process.send!(reply);
    }
  });
}
