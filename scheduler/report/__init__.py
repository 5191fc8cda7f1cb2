"""Reports: KPI tables (pandas), charts and spreadsheet exports."""
