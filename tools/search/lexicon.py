"""Words people use for aerial scenes: what each scene class shows (English), and French descriptive words in English.

Text search matches a query against chip descriptions with an English-centric sentence model (all-MiniLM-L6-v2).
Class names alone ("aerial image of airport") leave a need in a user's words ("planes parked beside a runway",
"bateaux amarrés à quai") far from the right chips. Two small hand-written tables close that gap:

- `CONCEPTS`: per class, short English phrases naming what such scenes show (objects, materials, layout). The
  query is compared with them to guess which scene classes it asks for (`tools.search.concepts`), and the phrases of
  a chip's *predicted* classes enrich its description. They were written from general knowledge of the scene types,
  not from the evaluation queries (`eval_queries/`).
- `FR_TERMS`: French words and phrases of scene descriptions -> English, applied after the class names
  (`describe.to_english`), so a French query reaches the English model as English words.
"""

from __future__ import annotations

CONCEPTS: dict[str, tuple[str, ...]] = {
    "Airport": ("runways and taxiways", "aircraft parked at the terminal gates", "airplanes on the tarmac",
                "airport terminal building and apron", "jet planes near hangars", "aerodrome landing strip"),
    "BareLand": ("bare brown soil", "empty ground without vegetation or buildings", "dirt land with vehicle tracks",
                 "vacant lot of earth", "cleared barren field", "exposed dry soil"),
    "BaseballField": ("baseball diamond", "ball park with a sand infield and a grass outfield",
                      "softball fields with a pitcher's mound", "fan-shaped sports fields", "baseball pitch"),
    "Beach": ("sandy beach along the sea", "shore where waves break on sand", "coast with sand and surf",
              "seaside with swimmers and umbrellas", "strip of sand next to the ocean"),
    "Bridge": ("bridge over a river", "road spanning the water", "crossing linking both banks of a river",
               "bridge across a canal", "deck over water with traffic"),
    "Center": ("city centre with tall office towers", "downtown skyscrapers", "dense high-rise urban core",
               "central business district", "large buildings packed in the heart of a city"),
    "Church": ("church with a steeple", "cathedral roof in the shape of a cross", "chapel in an old town",
               "religious building with a bell tower", "basilica with its forecourt"),
    "Commercial": ("shops and offices", "shopping mall with a car park", "retail stores along streets",
                   "business district with commercial buildings", "supermarkets and big-box stores"),
    "DenseResidential": ("houses packed tightly together", "crowded rows of small homes", "dense housing",
                         "tightly built residential blocks", "terraced houses with little space between them"),
    "Desert": ("sand dunes", "arid sandy desert", "dry wasteland of sand", "rippled dunes without vegetation",
               "barren sandy plain"),
    "Farmland": ("cultivated fields", "crop plots and furrows", "farm fields in a patchwork", "ploughed land",
                 "agricultural parcels", "irrigated crops"),
    "Forest": ("dense forest", "tree canopy", "thick woodland", "wooded area covered by trees",
               "continuous green forest cover"),
    "Industrial": ("factories", "warehouses and large sheds", "industrial plant with big roofs",
                   "manufacturing site with trucks", "industrial estate with flat-roofed buildings"),
    "Meadow": ("grassland", "green meadow without trees", "pasture and grass", "open grassy field",
               "uncultivated grass"),
    "MediumResidential": ("suburban houses with gardens", "detached homes along residential streets",
                          "housing estate with lawns and trees", "family houses with yards", "suburb"),
    "Mountain": ("mountains", "steep slopes and ridges", "rocky peaks", "mountain valleys", "rugged relief"),
    "Park": ("urban park with lawns and trees", "public garden with footpaths", "green space in a city",
             "park with a lake and trails", "landscaped gardens"),
    "Parking": ("parking lot full of cars", "rows of parked vehicles", "car park", "parking spaces with cars"),
    "Playground": ("athletics running track around a football field", "sports ground with an oval track",
                   "playing field with a red running track", "school sports field", "soccer pitch and track"),
    "Pond": ("pond", "small lake", "body of water surrounded by land", "fish farm ponds", "reservoir basin"),
    "Port": ("harbour with ships", "boats moored at docks", "quays and piers with vessels",
             "container port with cranes", "marina with sailboats", "ships in a harbour basin"),
    "RailwayStation": ("railway station with platforms", "train tracks converging on a station",
                       "trains at a station", "rail yard with many tracks", "station roof over the rails"),
    "Resort": ("resort hotel with swimming pools", "holiday villas and pools", "vacation complex with palm trees",
               "seaside hotel grounds", "leisure resort with gardens and pools"),
    "River": ("river", "winding river through the land", "meandering stream", "river banks", "waterway"),
    "School": ("school buildings with a schoolyard", "school campus with a sports field",
               "classroom blocks and a playground", "university campus", "school with a running track"),
    "SparseResidential": ("scattered houses among trees", "isolated houses in the countryside",
                          "few homes far apart on large plots", "rural houses", "sparse housing in greenery"),
    "Square": ("public square", "paved plaza", "pedestrian square with a fountain",
               "open square in front of a monument", "city plaza with walkways"),
    "Stadium": ("stadium with stands", "sports arena with tiered seats", "football stadium with grandstands",
                "oval arena with a roof", "large sports venue"),
    "StorageTanks": ("storage tanks", "round oil tanks", "cylindrical fuel tanks at a depot",
                     "tank farm at a refinery", "white circular tanks", "petroleum storage"),
    "Viaduct": ("viaduct", "elevated highway on pillars", "highway interchange with ramps",
                "raised road over the city", "overpass junction", "flyover"),
}

# French words and phrases (lower case; accents optional, plurals matched) -> English. Glue words map to ''.
FR_TERMS: dict[str, str] = {
    # airports
    "avion": "planes", "avions de ligne": "airliners planes", "appareil": "aircraft", "aerogare": "airport terminal",
    "tarmac": "tarmac", "hangar": "hangars", "piste": "runway track", "piste d'envol": "runway",
    "stationne": "parked", "stationnee": "parked",
    # ports and water
    "bateau": "boats", "navire": "ships", "voilier": "sailboats", "quai": "quay dock", "amarre": "moored",
    "bassin portuaire": "harbour basin", "grue": "cranes", "conteneur": "container", "jetee": "pier",
    "ponton": "pontoon", "plan d'eau": "body of water", "lac": "lake", "piscicole": "fish farm",
    "retenue d'eau": "reservoir", "mer": "sea", "cote": "coast", "vague": "waves", "rivage": "shore",
    "baigneur": "bathers", "ocean": "ocean", "bord de mer": "seaside", "sable": "sand", "sableuse": "sandy",
    "sablonneux": "sandy", "sablonneuse": "sandy", "canal": "canal", "rive": "banks", "berge": "banks",
    "serpente": "winds", "meandre": "meanders", "torrent": "stream", "lit": "bed", "cours": "course",
    "au bord de l'eau": "by the water",
    # housing
    "maison": "houses", "habitation": "houses dwellings", "logement": "housing", "immeuble": "buildings",
    "batiment": "buildings", "toit": "roofs", "toits plats": "flat roofs", "serree": "packed close together",
    "colle": "adjacent", "compact": "compact", "lotissement": "housing estate", "pavillon": "detached houses",
    "pavillonnaire": "suburban houses", "banlieue": "suburb", "individuelle": "detached", "jardin": "gardens",
    "pelouse": "lawns", "cour": "yard", "rue": "streets", "rues": "streets", "residentielle": "residential",
    "residentiel": "residential", "eparse": "scattered", "isolee": "isolated", "dispersee": "scattered",
    "hameau": "hamlet", "espacee": "spaced apart", "campagne": "countryside", "verdure": "greenery",
    "bordee": "lined",
    # storage and industry
    "citerne": "tanks", "petrole": "oil", "petrolier": "oil", "hydrocarbure": "oil fuel", "raffinerie": "refinery",
    "depot": "depot", "stockage": "storage", "carburant": "fuel", "blanc": "white", "blanche": "white",
    "rond": "round", "ronde": "round", "entrepot": "warehouses", "camion": "trucks", "site de production": "plant",
    "grands batiments": "large buildings",
    # land and vegetation
    "parcelle": "plots", "laboure": "ploughed", "sillon": "furrows", "irrigue": "irrigated", "agricole": "agricultural",
    "rectangulaire": "rectangular", "mosaique": "patchwork", "arbre": "trees", "canopee": "canopy",
    "couvert": "cover", "forestier": "forest", "forestiere": "forest", "cultivee": "cultivated",
    "ouvert": "open", "ouverte": "open", "boise": "wooded", "epais": "thick", "herbe": "grass", "pature": "pasture",
    "herbage": "grassland", "non cultive": "uncultivated", "vert": "green", "verte": "green", "sommet": "peaks",
    "crete": "ridges", "rocheuse": "rocky", "rocheux": "rocky", "escarpe": "steep", "versant": "slopes",
    "abrupt": "steep", "vallee": "valley", "montagneux": "mountainous", "massif": "massif", "aride": "arid",
    "sec": "dry",
    "seche": "dry", "erg": "sand desert", "ondule": "rippled", "a perte de vue": "to the horizon",
    "paysage": "landscape", "terrain vague": "vacant lot", "sol": "ground soil", "denude": "bare",
    "trace": "tracks", "pneu": "tyre", "terre battue": "packed dirt", "terre": "earth", "etendue": "expanse",
    "sans": "without", "construction": "buildings",
    # roads and rails
    "route": "road", "routier": "road", "autoroute": "highway", "voie rapide": "expressway",
    "echangeur": "interchange", "surelevee": "elevated", "pile": "pillars", "pilier": "pillars",
    "pilotis": "stilts pillars", "aerien": "elevated", "niveau": "levels", "bretelle": "ramp",
    "enjambe": "spans over", "traverse": "crosses", "traversee": "crossing", "passage": "crossing",
    "ouvrage": "structure", "voie ferree": "railway tracks", "voie": "tracks", "faisceau": "bundle",
    "train": "trains", "verriere": "glass roof", "ferroviaire": "railway", "quais de gare": "station platforms",
    "reliant": "connecting",
    # city
    "coeur de ville": "city core", "cœur de ville": "city core", "cœur": "heart", "lieu de culte": "place of worship",
    "coeur": "heart", "hypercentre": "city centre", "quartier": "district",
    "affaires": "business", "gratte-ciel": "skyscrapers", "tour": "towers", "haut": "tall", "centre": "centre",
    "centre commercial": "shopping mall", "magasin": "stores", "boutique": "shops", "bureau": "offices",
    "grandes surfaces": "big-box stores", "zone d'activites": "business park", "avenue": "avenue",
    "culte": "worship", "clocher": "bell tower", "croix": "cross", "religieux": "religious",
    "basilique": "basilica", "parvis": "forecourt", "vieille ville": "old town", "place": "plaza",
    "pavee": "paved", "pietonne": "pedestrian", "fontaine": "fountain", "monument": "monument",
    "degage": "open", "espace vert": "green space", "allee": "paths", "chemin": "paths", "promenade": "walking",
    "arbore": "tree-lined",
    # cars
    "voiture": "cars", "vehicule": "vehicles", "garee": "parked", "places de parking": "parking spaces",
    "occupee": "occupied", "pleine": "full", "plein": "full", "rangee": "rows",
    # sports, schools, leisure
    "piste d'athletisme": "athletics running track", "athletisme": "athletics", "piste de course": "running track",
    "terrain de foot": "football field", "terrain de football": "football field", "foot": "football",
    "ovale": "oval", "terrain": "field", "sport": "sports", "sportif": "sports", "sportive": "sports",
    "scolaire": "school", "cour de recreation": "schoolyard", "salles de classe": "classrooms", "preau": "schoolyard",
    "universite": "university campus", "tribune": "grandstands", "gradin": "tiered seating", "arene": "arena",
    "enceinte": "venue", "couverte": "covered", "losange": "diamond", "base-ball": "baseball",
    "marbre": "home plate", "monticule": "mound", "balle": "ball", "gazon": "turf", "diamant": "diamonds",
    "piscine": "swimming pools", "hotel": "hotel", "vacances": "holiday", "villa": "villas",
    "palmier": "palm trees", "club": "club",
    # glue
    "et": "and", "autour": "around", "entouree": "surrounded by", "entoure": "surrounded by",
    "le long de": "along", "le long d'une": "along", "le long d'un": "along", "pour": "for", "deux": "two",
    "devant": "in front of", "groupe": "group", "plusieurs": "several", "grande": "large", "grand": "large",
    "petite": "small",
    "petit": "small", "dans": "in", "au milieu de": "in the middle of", "son": "", "ses": "", "leur": "",
    "qui": "", "en": "in", "forme": "shape", "tres": "very", "quelques": "a few", "aux": "with", "au": "",
    "a": "", "les unes contre les autres": "", "d'une": "", "d'un": "", "par": "by",
}

# Words that mark a query as French when it has no accent ("cuves de petrole"): FR_TERMS then apply, which would
# garble English ("place of worship", "steep terrain") if applied to every query.
FR_MARKERS = frozenset(
    "de des du la le les un une avec et sur sous dans pres sans qui aux au d l entre autour vers chez ou".split()
)
