"""The build side: the board registry (boards.py), the offline PlatformIO and ARM tools (toolchain.py), the
model's PlatformIO project (project.py), where the shipped templates and firmware are (resources.py), and
the checks of the built firmware (mulcheck.py: no multiply instruction; armasm.py: reading disassembly)."""
