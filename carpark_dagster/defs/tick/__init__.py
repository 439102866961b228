"""The five lineage assets of one tick, and the checks that guard their money."""
