"""Teaching with the course: the students' release, and grading a class's notebooks.

- ``release``: the students' copy (no solutions, answer cells blank) or the instructor's;
- ``cells``: a notebook's answer cells, found by the ``check_exercise`` call they make;
- ``execute``: one notebook run by nbclient, each answer (or the grader's context) kept;
- ``answers``: an answer carried out of the kernel as data, never as code;
- ``sandbox``: a run as untrusted code: its own user where possible, limits, a time limit;
- ``judge``: one exercise judged by the course's check, in a process of its own;
- ``grade``: a class graded: gradebook.csv, feedback per student, a summary line each.
"""
