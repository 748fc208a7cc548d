"""The results side: the tables and pictures written from measured runs. The weight-mode table on the twin
and on the device (modes_table.py, modes_device.py), the multiplication counts and their table
(multiplications.py, mults_table.py), the PNG reports of a training session (report_png.py), and the
generated sections of docs/results.md (results_doc.py)."""
