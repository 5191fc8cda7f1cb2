"""Reading and writing scenarios, traces, generated demand and plan files; errors name the file, row or key."""
