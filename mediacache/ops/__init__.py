"""Operating the service: health, metrics, reports, administration, logging."""
