/**
 * Resolves with the pid of this process's parent once that parent has gone away.
 *
 * `npx kpi start` (or `npm start`, or a shell script) runs node under a wrapper. A SIGTERM to
 * the wrapper does not always reach node, and a SIGKILL never does: the wrapper dies and the
 * app keeps running, adopted by PID 1, with nobody left to stop it. Linux gives an orphan a
 * new parent (init or the nearest subreaper), so a parent pid that changes means the one that
 * started us is gone.
 *
 * Why polling process.ppid rather than the alternatives: Node has no PR_SET_PDEATHSIG; an IPC
 * channel exists only when the parent spawned node with one, which npm and shells do not;
 * end-of-file on stdin fires at once wherever stdin is /dev/null or closed (containers,
 * systemd, `nohup`), and never where it is a terminal the parent shares. A getppid() per
 * second on an unref'd timer works under any parent and costs nothing.
 *
 * A process whose parent is already PID 1 or 0 at start (a container's main process, a
 * daemon under init) has no wrapper to lose, and this never resolves.
 */
export function parentGone(options: { everyMs?: number; ppid?: () => number } = {}): { gone: Promise<number>; stop(): void } {
  const ppidOf = options.ppid ?? (() => process.ppid);
  const first = ppidOf();
  let timer: NodeJS.Timeout | undefined;
  const gone = new Promise<number>((resolve) => {
    if (first <= 1) return;
    timer = setInterval(() => {
      if (ppidOf() === first) return;
      clearInterval(timer);
      resolve(first);
    }, options.everyMs ?? 1_000);
    timer.unref();
  });
  return { gone, stop: () => clearInterval(timer) };
}
