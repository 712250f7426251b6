"""Label Studio as a front end for depthal (docs/labelstudio.md): link a project, push each round's queue as tasks
with pre-labels, take finished annotations back as masks, reconcile. Torch-free; talks to Label Studio over HTTP."""
