"""The sandbox: where a student's code runs, and the only place it runs.

Each graded notebook's kernel runs in a bubblewrap sandbox of its own (:mod:`.bwrap`): its
own unprivileged uid, pid, network (loopback only), ipc and mount namespaces, read-only
views of the interpreter, the course library and ``data/``, a size-capped tmpfs holding the
student's files, rlimits on every process and, as root, cgroups on the whole
(:mod:`.cgroups`). :mod:`.kernel` is the kernel manager nbgrader's Execute starts it with,
and bounds what comes back over the kernel's sockets. :mod:`.zygote` forks each kernel from
a warm one that never runs student code, into namespaces of its own, with no capability
left; where it cannot, the kernel starts cold.

**Trusted**: the Linux kernel's namespaces and limits, ``bwrap``, the grader's own process,
the warm kernel before any fork (it runs the grader's code only), and the course's files
(mounted read-only, never written from inside).

**Not trusted**: anything the student's code does or produces: its outputs (bounded and cut
before the grader holds them), the files it leaves (read back only through
:mod:`grader.staging`), its exit, its timing, and any message it prints about itself (from
a forked kernel the grader takes only two pids, vouched for by the Linux kernel before the
student's code runs, and an exit code from its keeper). The
loopback-only socket guard of ``site/sitecustomize.py`` (used without the sandbox) stops
mistakes, not an attacker.

This room knows the ground (:mod:`grader.course`, :mod:`grader.staging`) and nothing else of
the grader: not the judge, not the records.
"""
