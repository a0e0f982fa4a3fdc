"""Pool-agnostic task execution: runs inline, on threads, or inside prefork children."""
