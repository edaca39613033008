"""CPC class titles, and the mapping of a domain phrase ("autonomous driving") to CPC prefixes in the index.

The table holds short titles of the CPC classes and subclasses a drawing search is likely to meet, with a
few extra words people use for them. It is a hint only: `cpc_for_topic` returns only prefixes that occur
in the index (`facet_values(services)["cpc"]`), so a phrase never turns into a filter that drops
everything. Matching is by shared word stems first, then (when a text encoder is given) by embedding
similarity between the phrase and the titles.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np

from core.textnorm import CPC_TITLE_STOPWORDS, stem
from models.base import TextEncoder

# prefix → (title, extra words). Subclasses (4 chars) are more specific than classes (3 chars).
CPC_TITLES: dict[str, tuple[str, str]] = {
    "A01B": ("soil working in agriculture", "plough tillage"),
    "A01C": ("planting, sowing, fertilising", "seeding seeder planter seed drill"),
    "A01D": ("harvesting, mowing", "harvester mower combine"),
    "A01G": ("horticulture, forestry, watering", "plants garden irrigation greenhouse"),
    "A01K": ("animal husbandry, fishing", "livestock fish aquarium pets"),
    "A01N": ("biocides, pest repellants, plant growth regulators", "pesticide herbicide fungicide"),
    "A23L": ("foods and foodstuffs", "food nutrition"),
    "A41D": ("outerwear, garments", "clothing"),
    "A43B": ("footwear", "shoe sole boot"),
    "A47B": ("tables, desks, office furniture, cabinets", "furniture shelf drawer"),
    "A47C": ("chairs, sofas, beds", "seat furniture mattress"),
    "A47J": ("kitchen equipment, coffee mills", "cooking appliance"),
    "A47L": ("domestic washing or cleaning, vacuum cleaners", "dishwasher cleaning robot"),
    "A61B": ("medical diagnosis, surgery", "surgical instrument imaging medical device"),
    "A61F": ("prostheses, bandages, orthopaedic devices", "implant stent"),
    "A61K": ("medical or cosmetic preparations", "drug pharmaceutical composition"),
    "A61M": ("devices for introducing media into the body", "syringe catheter infusion inhaler"),
    "A61N": ("electrotherapy, radiation therapy", "stimulation"),
    "A61P": ("therapeutic activity of compounds", "drug treatment disease inhibitor"),
    "A63B": ("sports apparatus, physical training", "exercise fitness"),
    "A63F": ("games, video games, card and board games", "gaming game console"),
    "A63H": ("toys", "toy"),
    "B01D": ("separation, filtering", "filter separator distillation"),
    "B01J": ("chemical processes, catalysts", "catalyst reactor"),
    "B05D": ("applying liquids to surfaces, coating processes", "coating spraying paint"),
    "B08B": ("cleaning in general", "cleaning"),
    "B21D": ("working sheet metal, punching, bending", "sheet metal press"),
    "B22D": ("casting of metals", "casting foundry mould"),
    "B22F": ("metal powder, additive manufacturing of metals", "3d printing sintering"),
    "B23K": ("soldering, welding, cutting by laser", "weld welding"),
    "B23P": ("metal working, assembling, repairing", "manufacturing assembly"),
    "B25J": ("manipulators, robots, grippers", "robot robotic arm gripper manipulator"),
    "B29C": ("shaping plastics, moulding, 3d printing", "injection moulding extrusion additive"),
    "B32B": ("layered products, laminates", "laminate layer"),
    "B33Y": ("additive manufacturing", "3d printing"),
    "B60K": ("vehicle propulsion arrangements, instrumentation", "vehicle drive dashboard"),
    "B60L": ("electric vehicles, electric propulsion, charging", "electric vehicle charging battery ev"),
    "B60N": ("vehicle seats, passenger accommodation", "car seat"),
    "B60Q": ("vehicle lighting and signalling", "headlight lamp signal"),
    "B60R": ("vehicle fittings, safety, electric circuits for vehicles", "airbag bumper vehicle"),
    "B60W": ("conjoint control of vehicle sub-units, driver assistance, autonomous driving",
             "autonomous self-driving driverless vehicle control automated driving adas"),
    "B61L": ("railway traffic control", "train railway"),
    "B62D": ("motor vehicles, vehicle bodies, steering", "car automobile chassis steering"),
    "B62J": ("cycle accessories", "bicycle"),
    "B62K": ("cycles, motorcycles, scooters", "bicycle bike motorcycle"),
    "B63B": ("ships, boats, floating structures", "ship boat vessel hull marine"),
    "B64C": ("aeroplanes, helicopters, wings, rotorcraft", "aircraft airplane wing rotor flight"),
    "B64D": ("aircraft equipment, power plants of aircraft", "aircraft cabin powerplant"),
    "B64F": ("ground installations for aircraft", "airport hangar"),
    "B64G": ("cosmonautics, spacecraft", "satellite space rocket"),
    "B64U": ("unmanned aerial vehicles, drones", "uav drone unmanned aircraft"),
    "B65D": ("containers, packaging", "package bottle container"),
    "B65G": ("conveyors, storage, transport", "conveyor warehouse"),
    "B65H": ("handling webs, sheets, winding", "web roll"),
    "B66B": ("elevators, escalators, moving walkways", "elevator lift escalator hoistway car"),
    "B66C": ("cranes, hoists, load-engaging elements", "crane hoist gripper lifting gripping"),
    "B66D": ("capstans, winches, tackles", "winch"),
    "B66F": ("hoisting and lifting not otherwise provided, jacks, forklifts", "forklift jack lifting"),
    "C01B": ("non-metallic elements, hydrogen, carbon compounds", "hydrogen graphene"),
    "C02F": ("treatment of water and sewage", "water treatment"),
    "C07C": ("acyclic and carbocyclic organic compounds", "organic chemistry compound"),
    "C07D": ("heterocyclic organic compounds", "heterocyclic compound chemistry molecule"),
    "C07F": ("organometallic compounds", "organometallic compound metal complex"),
    "C07K": ("peptides, proteins", "protein antibody"),
    "C08G": ("macromolecular compounds by polymerisation", "polymer resin"),
    "C08L": ("polymer compositions", "polymer plastic rubber"),
    "C09D": ("coating compositions, paints, inks", "coating paint ink varnish"),
    "C09K": ("materials for miscellaneous applications, luminescent materials", "phosphor"),
    "C12N": ("microorganisms, enzymes, genetic engineering", "cell gene dna"),
    "C12Q": ("measuring processes with enzymes or nucleic acids", "assay pcr"),
    "C21D": ("heat treatment of iron and steel", "steel annealing metallurgy heat treatment"),
    "C22C": ("alloys", "steel alloy metallurgy magnetic sheet"),
    "C23C": ("coating metallic material, vapour deposition", "coating deposition plating"),
    "C25B": ("electrolytic production, electrolysis", "electrolyser electrolysis hydrogen"),
    "D01F": ("man-made fibres", "fiber filament"),
    "D04H": ("non-woven fabrics", "nonwoven textile"),
    "D06F": ("laundering, washing machines", "washing machine laundry"),
    "D21C": ("production of cellulose, pulp", "cellulose pulp fibers paper"),
    "D21H": ("paper making, pulp compositions", "paper"),
    "E01B": ("railway track", "rail track"),
    "E02D": ("foundations, excavations, piles, anchors", "foundation anchor pile ground"),
    "E02F": ("dredging, excavators, soil shifting", "excavator digger"),
    "E04B": ("building construction, walls, floors", "building wall"),
    "E04G": ("scaffolding, building aids", "scaffold formwork"),
    "E04H": ("buildings for special purposes, pools, tents", "swimming pool tent tower"),
    "E05B": ("locks, keys", "lock latch"),
    "E05D": ("hinges, door and window fittings", "hinge"),
    "E06B": ("doors, windows, shutters", "door window"),
    "E21B": ("earth drilling, oil and gas wells", "drilling well borehole"),
    "F01D": ("non-positive-displacement machines, turbines, turbine blades", "turbine blade rotor vane"),
    "F01N": ("exhaust gas treatment of engines", "exhaust muffler"),
    "F02C": ("gas-turbine plants, jet engines", "gas turbine jet engine combustor cooling"),
    "F02M": ("fuel supply of combustion engines", "fuel injector"),
    "F03B": ("hydraulic machines, water turbines", "hydro water turbine"),
    "F03D": ("wind motors, wind turbines", "wind turbine windmill rotor blade nacelle"),
    "F04B": ("positive-displacement pumps", "pump compressor"),
    "F04D": ("non-positive-displacement pumps, fans", "fan blower centrifugal pump"),
    "F05D": ("indexing scheme for gas turbines and jet engines", "gas turbine engine"),
    "F16B": ("fastening devices, bolts, anchors, nuts", "fastener bolt screw anchor rivet"),
    "F16C": ("shafts, bearings", "bearing shaft"),
    "F16H": ("gearing, transmissions", "gear gearbox transmission"),
    "F16K": ("valves, taps, cocks", "valve"),
    "F16L": ("pipes, pipe joints, hoses", "pipe hose coupling"),
    "F17C": ("vessels for compressed or liquefied gases", "gas tank hydrogen tank"),
    "F21V": ("lighting devices", "lamp luminaire light"),
    "F23R": ("combustion chambers of gas turbines", "combustor combustion chamber"),
    "F24F": ("air conditioning, ventilation", "hvac ventilation"),
    "F25B": ("refrigeration, heat pumps", "refrigerator heat pump cooling"),
    "F28D": ("heat exchangers", "heat exchanger"),
    "F28F": ("heat-exchange apparatus details", "heat exchanger fin"),
    "F41A": ("weapons, firearms", "gun firearm"),
    "G01B": ("measuring length, thickness, angles", "measurement gauge"),
    "G01C": ("measuring distances, navigation, surveying", "navigation gyroscope"),
    "G01F": ("measuring volume or flow", "flow meter"),
    "G01G": ("weighing", "scale weight sensor"),
    "G01L": ("measuring force, pressure, torque", "pressure sensor force"),
    "G01M": ("testing machines and structures", "testing"),
    "G01N": ("analysing materials, chemical and physical analysis", "analysis sensor sample assay"),
    "G01R": ("measuring electric and magnetic variables, testing electric properties", "voltage current meter"),
    "G01S": ("radio navigation, radar, lidar, sonar, position determination", "radar lidar gps sensor"),
    "G02B": ("optical elements, lenses, optical systems", "lens optics mirror display"),
    "G02F": ("optical control devices, liquid crystal", "lcd"),
    "G03B": ("photography, cameras, projectors", "camera"),
    "G05B": ("control systems, regulating, automation", "controller control loop automation"),
    "G05D": ("controlling position or course of vehicles, autonomous navigation, robots",
             "autonomous vehicle navigation path planning self-driving robot drone control"),
    "G06F": ("electric digital data processing, computers, user interfaces", "computer software data interface"),
    "G06N": ("machine learning, neural networks, artificial intelligence", "ai neural network learning"),
    "G06Q": ("business and administrative data processing", "commerce payment business"),
    "G06T": ("image data processing, computer graphics", "image processing graphics rendering 3d"),
    "G06V": ("image and video recognition", "computer vision object detection recognition"),
    "G07C": ("time and attendance, registering vehicle operation", "vehicle data recorder"),
    "G08B": ("alarm and signalling systems", "alarm"),
    "G08G": ("traffic control systems for vehicles", "traffic vehicle collision"),
    "G09G": ("control of displays", "display screen"),
    "G10L": ("speech analysis and synthesis", "speech voice audio"),
    "G11C": ("static memory stores", "memory"),
    "G16H": ("healthcare informatics", "health medical data"),
    "H01F": ("magnets, inductances, transformers, magnetic materials", "magnet magnetic core electrical steel"),
    "H01L": ("semiconductor devices", "semiconductor chip transistor"),
    "H01M": ("batteries, fuel cells, electrochemical cells", "battery cell fuel cell electrode"),
    "H01Q": ("antennas", "antenna"),
    "H01R": ("electric connectors", "connector plug socket"),
    "H02J": ("power supply and distribution, battery charging", "charging power grid energy storage"),
    "H02K": ("electric motors and generators", "motor generator stator rotor"),
    "H02M": ("power converters, inverters", "inverter converter"),
    "H02S": ("photovoltaic modules, solar panels", "solar panel photovoltaic"),
    "H04B": ("transmission, radio communication", "transmitter receiver"),
    "H04L": ("digital information transmission, networks", "network protocol communication"),
    "H04N": ("image communication, television, cameras", "video camera television"),
    "H04W": ("wireless communication networks", "wireless mobile cellular"),
    "H05B": ("electric heating, electric lighting", "heater led lighting"),
    "H05K": ("printed circuits, electric apparatus housings", "circuit board pcb enclosure"),
    "H10K": ("organic electric solid-state devices, OLEDs", "oled organic light-emitting diode"),
    "Y02E": ("reduction of greenhouse gas emissions in energy generation", "renewable energy"),
    "Y02T": ("climate change mitigation in transportation", "electric mobility"),
}

MIN_KEYWORD_SCORE = 1.0  # at least one shared stem, weighted by specificity
MIN_COVERAGE = 0.5  # a class must share more than half of the phrase's word stems ("solar cells" ≠ fuel cells)
KEEP_RATIO = 0.6  # classes scoring at least this fraction of the best match are kept too
MIN_EMBED_SIM = 0.5  # phrase ↔ title cosine for an embedding-only match


def topic_stems(text: str) -> set[str]:
    """Content-word stems of a phrase: "autonomous-driving vehicles" → {"autonom", "drive", "vehicl"}."""
    words = re.findall(r"[a-z0-9]+", text.lower().replace("-", " "))
    return {stem(w) for w in words if w not in CPC_TITLE_STOPWORDS}


def cpc_title(prefix: str) -> str:
    """The short title of a CPC prefix ("B64" → title of the most general subclass known), or ''."""
    p = prefix.upper()
    if p in CPC_TITLES:
        return CPC_TITLES[p][0]
    subs = [t for code, (t, _) in CPC_TITLES.items() if code.startswith(p)]
    return "; ".join(subs[:3])


def cpc_legend(prefixes: Iterable[str], counts: dict[str, int] | None = None) -> list[str]:
    """Lines "B64D (12 figures): aircraft equipment, ..." for the subclass prefixes given."""
    out = []
    for p in sorted({x for x in prefixes if len(x) == 4}):
        n = f" ({counts[p]} figures)" if counts and p in counts else ""
        out.append(f"{p}{n}: {cpc_title(p) or 'title not in the table'}")
    return out


def cpc_for_topic(topic: str, present: Sequence[str], text_encoder: TextEncoder | None = None) -> list[str]:
    """CPC prefixes that occur in the index (`present`) and whose titles match a domain phrase.

    Word-stem overlap with the title and extra words decides first: a class must share more than half of
    the phrase's stems, and a longer shared stem, or one in the title, counts more. When nothing matches
    by words and a text encoder is given, a title whose embedding is close to the phrase's (cosine >=
    MIN_EMBED_SIM) is taken. Returns the best prefixes and those scoring at least
    KEEP_RATIO of the best; none for a phrase made only of words too common to name a domain ("devices").
    """
    have = {p.upper() for p in present}
    candidates = {code: v for code, v in CPC_TITLES.items() if code in have}
    if not candidates or not topic.strip():
        return []
    q = topic_stems(topic)
    if not q:
        return []
    scores: dict[str, float] = {}
    for code, (title, extra) in candidates.items():
        in_title, in_extra = q & topic_stems(title), q & (topic_stems(extra) - topic_stems(title))
        if len(in_title | in_extra) / len(q) > MIN_COVERAGE:
            scores[code] = sum(1.5 + min(len(s), 10) / 10 for s in in_title) + sum(
                1.0 + min(len(s), 10) / 10 for s in in_extra)
    if scores:
        best = max(scores.values())
        if best >= MIN_KEYWORD_SCORE:
            return sorted(c for c, s in scores.items() if s >= KEEP_RATIO * best)
    if text_encoder is None:
        return []
    codes = sorted(candidates)
    texts = [f"{candidates[c][0]}; {candidates[c][1]}" for c in codes]
    vecs = np.asarray(text_encoder.embed_texts([topic, *texts]), dtype=np.float32)
    sims = vecs[1:] @ vecs[0]
    best_i = int(np.argmax(sims))
    if float(sims[best_i]) < MIN_EMBED_SIM:
        return []
    return [codes[i] for i in range(len(codes)) if float(sims[i]) >= float(sims[best_i]) - 0.03]
