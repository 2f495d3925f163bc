"""What each exercise is worth when a class is graded (``practical3 grade``): the one table.

One point for reading or counting a value off the data or the code; two where the student must
build or change something (a model, a loop's schedule), write a function the package checks, or
combine two readings.
A teacher reweights the course here; ``tests/test_grade.py`` holds the table to the exercises.
"""

from __future__ import annotations

POINTS: dict[str, int] = {
    "1.1": 1, "1.2": 2, "1.3": 1, "1.4": 1, "1.5": 2,
    "2.1": 2, "2.2": 1, "2.3": 2, "2.4": 1, "2.5": 2,
    "3.1": 1, "3.2": 2, "3.3": 2, "3.4": 2, "3.5": 2,
    "4.1": 1, "4.2": 1, "4.3": 1, "4.4": 2, "4.5": 2,
}
