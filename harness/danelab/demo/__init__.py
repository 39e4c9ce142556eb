"""The teaching labs: `danelab demo` (docs/teaching.md).

demos.py    what each demo runs, the story in stages, its questions
run.py      one lab run per sender, side by side
facts.py    what a run showed, in the story's terms
narrate.py  the story on the terminal (--step: Enter between stages)
handout.py  the handout page (templates/handout.html.j2)
place.py    run folders per student, `demo reset`
command.py  the `demo` subcommand
scenarios/  demo-only scenario files (the rest come from the catalog)
"""
