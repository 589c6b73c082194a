"""Civic reports: the catalog's road-damage and snow-removal procedures as Open311 GeoReport v2, the
public ``/town`` status page, the road department's map and merges, and rewards for residents.

Every civic report is an e-application (``procedures.applications``): its answers and photos are
sealed under the application's key, its history is the application's events — signed, anchored in
ProcedureLedger batches like every other procedure — and clerks decide it with the same services. The
civic row (``models.CivicReport``) adds only what may be public: the service, the status, a grid cell
instead of the point, the district, and the texts and photos a clerk released.

Modules: ``models`` (tables), ``town`` (the city's outline, districts and the location grid), ``maps``
(the SVG projection), ``services`` (Open311 service definitions from the catalog's JSON Schema forms),
``keys`` (the operator-issued Open311 API keys), ``reports`` (filing, adopting e-applications, the
public view and histories), ``clerks`` (review, status changes, merges, rewards, following the
e-applications queue), ``schemas`` (request and response models), ``routes`` (Open311),
``town_routes`` (the status page and public histories), ``clerk_routes`` (the clerks' and operator's
API), ``cli`` (``machi admin open311-keys``). The clerks' map page is the console's
(``procedures/console/civic.py``).
"""
