"""DataQualityDashboard-grade checks of an OMOP CDM v5.4 database (the project's own declaration and SQL)."""
