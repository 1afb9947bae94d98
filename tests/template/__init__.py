"""Template contract tests: ``template.yaml`` read as data (STYLE.md habit 6)."""
