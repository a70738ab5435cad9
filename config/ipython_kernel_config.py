# Installed by pip into <environment>/etc/ipython/: every IPython kernel started from the
# course's environment loads the course's hints before the first cell runs (a restarted kernel
# too). See authlab.course.kernel.
c = get_config()  # noqa: F821 - provided by IPython when it reads this file
c.InteractiveShellApp.extensions = ["authlab.course.kernel"]
