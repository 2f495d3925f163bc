"""The course's helpers for the notebooks: the package's source on the page, exercise checks
with feedback, and the threshold browser of notebook 04.

- ``show``: a class's or function's source from the package, highlighted (one source);
- ``exercises``: every exercise's check and hint, ``check_exercise(key, answer, *context)``;
- ``solutions``: the instructor's answers and a typical wrong answer to each exercise;
- ``browse``: Test predictions as probabilities at native size, and a slider over them.
"""
