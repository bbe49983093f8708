"""The machine: devices, precision and threads (`hardware`), device slots shared by concurrent
jobs (`slots`, `slot_files`), and the time a job asks a scheduler for (`runtime`). Torch only
where a question needs it; imports nothing else of the package.
"""
