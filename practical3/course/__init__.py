"""The course's helpers for the notebooks: the package's source on the page, exercise checks
with feedback, the real X-rays of the committed report, and the threshold browser of notebook 04.

- ``show``: a class's or function's source from the package, highlighted (one source);
- ``exercises``: every exercise's check and hint, ``check_exercise(key, answer, *context)``;
- ``functions``: write-the-function exercises, the student's code against the package's own;
- ``solutions``: the instructor's answers, a typical wrong answer to each exercise, and the
  questionnaires' answers;
- ``committed``: the committed real COVID-QU-Ex report's figures and scores;
- ``facts``: sentences about the data, computed from the data they name;
- ``loop``: the size and time limit of notebook 03's own training loop;
- ``timings``: each notebook's measured time, the one table pages print from;
- ``browse``: Test predictions as probabilities at native size, and a slider over them;
- ``render``: the notebooks run headless into executed copies (``docs/notebooks/``).
"""
