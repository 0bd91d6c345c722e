"""Word lists of the synthetic generator: the class taxonomy, tag vocabularies and title words.

Everything here is a hand-written literal; :mod:`topic_learning.data.synthetic` turns it into
index arrays and samples from it. No word list may contain a class name (primary or
secondary), and keywords are unique across the taxonomy, so a tag or title word never names
its class outright.
"""

from __future__ import annotations

# fmt: off
TAXONOMY: dict[str, dict[str, tuple[str, ...]]] = {
    "sports": {
        "football": (
            "soccer", "goal", "striker", "penalty", "free kick", "goalkeeper", "midfielder", "world cup",
            "premier league", "dribbling", "offside", "derby",
        ),
        "basketball": (
            "nba", "dunk", "three pointer", "point guard", "rebound", "slam dunk", "layup", "buzzer beater",
            "crossover", "free throw", "hoops", "playoffs",
        ),
        "tennis": (
            "wimbledon", "serve", "backhand", "forehand", "racket", "grand slam", "volley", "tiebreak",
            "clay court", "ace", "baseline", "us open",
        ),
        "running": (
            "marathon", "sprint", "jogging", "trail running", "running shoes", "personal best", "5k race",
            "half marathon", "pace", "track", "ultramarathon", "interval training",
        ),
        "swimming": (
            "freestyle", "butterfly stroke", "backstroke", "breaststroke", "swimming pool", "lap", "diving",
            "open water", "goggles", "olympic pool", "relay", "flip turn",
        ),
        "fitness": (
            "workout", "gym", "squats", "deadlift", "push ups", "yoga", "stretching", "abs", "cardio",
            "weightlifting", "personal trainer", "home workout",
        ),
    },
    "music": {
        "pop": (
            "pop star", "chart hit", "music video", "boy band", "girl group", "love song", "pop ballad",
            "billboard", "catchy chorus", "remix", "singer", "album release",
        ),
        "rock": (
            "electric guitar", "drummer", "rock band", "heavy metal", "guitar solo", "punk", "concert",
            "riff", "bass guitar", "stage dive", "amplifier", "encore",
        ),
        "hip hop": (
            "rap", "rapper", "freestyle rap", "beat", "mixtape", "turntable", "dj", "lyrics", "cypher",
            "trap beat", "breakdance", "mic drop",
        ),
        "classical": (
            "piano", "violin", "orchestra", "symphony", "cello", "mozart", "beethoven", "concerto",
            "conductor", "sonata", "opera", "string quartet",
        ),
        "karaoke": (
            "karaoke night", "singing cover", "duet", "high notes", "vocal range", "sing along",
            "microphone", "acoustic cover", "vocal coach", "talent show", "choir", "humming",
        ),
    },
    "food": {
        "baking": (
            "bread", "sourdough", "cake", "cookies", "croissant", "oven", "dough", "pastry", "cupcakes",
            "frosting", "pie crust", "muffins",
        ),
        "street food": (
            "food truck", "night market", "dumplings", "tacos", "noodles", "skewers", "fried chicken",
            "food stall", "hot dog", "bubble tea", "spring rolls", "street vendor",
        ),
        "home cooking": (
            "recipe", "dinner", "kitchen", "stir fry", "pasta", "soup", "roast chicken", "meal prep",
            "salad", "curry", "omelette", "family meal",
        ),
        "barbecue": (
            "grill", "brisket", "smoked ribs", "bbq sauce", "charcoal", "steak", "pulled pork", "burgers",
            "smoker", "marinade", "kebab", "wood fire",
        ),
    },
    "travel": {
        "beaches": (
            "beach", "ocean", "sunset", "island", "surfing", "sand", "snorkeling", "palm trees", "tropical",
            "coral reef", "seaside", "waves",
        ),
        "hiking": (
            "mountain", "trail", "summit", "camping", "backpack", "forest", "waterfall", "national park",
            "hiking boots", "scenic view", "canyon", "glacier",
        ),
        "city tours": (
            "skyline", "landmarks", "museum", "old town", "city walk", "street art", "cathedral", "subway",
            "rooftop", "night view", "architecture", "walking tour",
        ),
        "road trips": (
            "road trip", "highway", "camper van", "gas station", "route 66", "scenic drive", "motel",
            "desert road", "van life", "road map", "mountain pass", "travel vlog",
        ),
    },
    "gaming": {
        "esports": (
            "tournament", "league of legends", "dota", "pro player", "team fight", "championship",
            "counter strike", "caster", "valorant", "clutch", "ranked match", "overwatch",
        ),
        "mobile games": (
            "mobile game", "pubg mobile", "clash royale", "gacha", "touch controls", "candy crush",
            "among us", "free to play", "level up", "genshin impact", "mobile legends", "idle game",
        ),
        "retro games": (
            "retro gaming", "arcade", "nintendo", "mario", "pixel art", "game boy", "sega",
            "console collection", "8 bit", "pac man", "zelda", "classic console",
        ),
        "strategy games": (
            "chess", "civilization", "starcraft", "tower defense", "base building", "real time strategy",
            "turn based", "grand strategy", "age of empires", "board game", "checkmate", "total war",
        ),
    },
    "news": {
        "politics": (
            "election", "president", "parliament", "senate", "vote", "campaign", "debate", "policy",
            "government", "minister", "referendum", "diplomacy",
        ),
        "business": (
            "stock market", "economy", "inflation", "startup", "interest rates", "wall street", "earnings",
            "investors", "cryptocurrency", "bitcoin", "trade war", "unemployment",
        ),
        "weather": (
            "storm", "hurricane", "rain", "snow", "heatwave", "forecast", "tornado", "flood", "thunderstorm",
            "typhoon", "climate", "temperature",
        ),
        "local news": (
            "traffic accident", "fire department", "police", "city council", "community event",
            "neighborhood", "rescue", "road closure", "local hero", "school board", "firefighters",
            "breaking news",
        ),
    },
    "fashion": {
        "streetwear": (
            "hoodie", "oversized fit", "outfit of the day", "thrift haul", "vintage jacket", "cargo pants",
            "graphic tee", "sneakers", "lookbook", "bucket hat", "denim", "drip",
        ),
        "makeup": (
            "lipstick", "eyeliner", "foundation", "eyeshadow", "contour", "mascara", "skincare",
            "makeup tutorial", "blush", "concealer", "beauty routine", "highlighter",
        ),
        "hairstyles": (
            "haircut", "braids", "curly hair", "hair dye", "ponytail", "barber", "bob cut", "hair care",
            "updo", "bangs", "fade", "hair tutorial",
        ),
        "jewelry": (
            "necklace", "earrings", "gold ring", "diamond", "bracelet", "pearls", "engagement ring",
            "silver", "gemstone", "pendant", "handmade jewelry", "watch collection",
        ),
    },
    "pets": {
        "dogs": (
            "puppy", "golden retriever", "dog training", "corgi", "husky", "dog park", "fetch", "labrador",
            "german shepherd", "bark", "leash", "good boy",
        ),
        "cats": (
            "kitten", "cat", "meow", "purring", "cat tree", "siamese", "catnip", "tabby", "litter box",
            "persian cat", "scratching post", "cat nap",
        ),
        "birds": (
            "parrot", "budgie", "cockatoo", "bird cage", "songbird", "parakeet", "feathers", "canary",
            "cockatiel", "bird feeder", "owl", "talking parrot",
        ),
        "aquarium": (
            "fish tank", "goldfish", "betta fish", "aquascape", "coral", "clownfish", "guppies",
            "aquarium plants", "koi pond", "shrimp tank", "water filter", "tropical fish",
        ),
    },
    "tech": {
        "smartphones": (
            "iphone", "android", "samsung galaxy", "phone review", "unboxing", "camera test", "battery life",
            "pixel phone", "foldable phone", "smartphone", "screen protector", "phone case",
        ),
        "computers": (
            "laptop", "gaming pc", "graphics card", "pc build", "motherboard", "keyboard", "monitor",
            "macbook", "cpu", "ssd", "water cooling", "desk setup",
        ),
        "gadgets": (
            "smartwatch", "drone", "earbuds", "headphones", "smart home", "vr headset", "tablet",
            "action camera", "robot vacuum", "e reader", "charger", "tech gadgets",
        ),
        "programming": (
            "python", "javascript", "coding", "software engineer", "algorithm", "web development",
            "debugging", "github", "machine learning", "data structures", "linux", "code review",
        ),
    },
    "comedy": {
        "pranks": (
            "prank", "hidden camera", "scare prank", "prank call", "practical joke", "reaction",
            "roommate prank", "fake spider", "whoopee cushion", "gotcha", "surprise", "public prank",
        ),
        "stand-up": (
            "stand up comedy", "comedian", "punchline", "open mic", "comedy club", "crowd work",
            "stand up special", "heckler", "one liner", "roast", "jokes", "late night show",
        ),
        "sketches": (
            "sketch comedy", "parody", "skit", "impressions", "funny characters", "spoof", "comedy duo",
            "satire", "improv", "blooper", "short film", "acting",
        ),
    },
    "education": {
        "math": (
            "algebra", "geometry", "calculus", "equations", "math tricks", "fractions", "probability",
            "trigonometry", "multiplication", "math olympiad", "statistics", "proof",
        ),
        "history": (
            "ancient rome", "world war", "medieval", "egypt", "pyramids", "empire", "historical facts",
            "civil war", "vikings", "renaissance", "dynasty", "archaeology",
        ),
        "language learning": (
            "english grammar", "vocabulary", "pronunciation", "spanish lessons", "learn french", "idioms",
            "accent", "language exchange", "flashcards", "japanese", "speaking practice", "ielts",
        ),
        "science": (
            "physics", "chemistry", "biology", "experiment", "space", "astronomy", "dna", "laboratory",
            "volcano", "black hole", "solar system", "microscope",
        ),
    },
    "autos": {
        "supercars": (
            "ferrari", "lamborghini", "supercar", "porsche", "mclaren", "v8 engine", "exhaust sound",
            "bugatti", "top speed", "sports car", "launch control", "horsepower",
        ),
        "motorcycles": (
            "motorbike", "harley davidson", "superbike", "motocross", "helmet", "wheelie", "scooter",
            "dirt bike", "biker", "sport bike", "cruiser", "ducati",
        ),
        "electric vehicles": (
            "tesla", "electric car", "charging station", "battery range", "autopilot", "ev", "model 3",
            "regenerative braking", "electric truck", "charging cable", "range test", "e bike",
        ),
        "car repair": (
            "mechanic", "oil change", "brake pads", "engine repair", "car wash", "detailing", "tire change",
            "garage", "diagnostics", "spark plugs", "car restoration", "dashboard",
        ),
    },
}
"""Primary class → secondary class → keywords (noun phrases, unique across the taxonomy)."""

TAG_SUFFIXES = ("highlights", "tips", "tutorial", "vlog", "compilation", "review", "challenge",
                "lovers", "daily", "life", "fans", "community")
"""Make class-specific compound tags ("football highlights") the way uploaders do."""

NOISE_TAGS = ("viral", "trending", "fyp", "for you", "must watch", "funny", "cute", "amazing",
              "weekend", "love", "follow me", "like for like", "new video", "satisfying",
              "best moments", "life hacks", "happy", "relax", "shorts", "2021")
"""Tags any uploader adds to any video to be found: they say nothing about the class."""


PRIMARY_TAGS: dict[str, tuple[str, ...]] = {
    "sports": ("athlete", "match day", "training session", "sports fan", "game day"),
    "music": ("live music", "musician", "new song", "music lover", "performance"),
    "food": ("foodie", "delicious", "yummy", "food lover", "tasty"),
    "travel": ("wanderlust", "travel diary", "explore", "adventure", "vacation"),
    "gaming": ("gamer", "gameplay", "lets play", "video games", "gaming setup"),
    "news": ("headlines", "current events", "update", "report", "press conference"),
    "fashion": ("style", "outfit", "beauty", "fashion week", "glow up"),
    "pets": ("pet lover", "animals", "furry friend", "pet care", "adorable"),
    "tech": ("technology", "tech review", "innovation", "setup tour", "specs"),
    "comedy": ("hilarious", "lol", "comedy gold", "try not to laugh", "humor"),
    "education": ("learn", "study with me", "explained simply", "lesson", "did you know"),
    "autos": ("car lover", "automotive", "road test", "car culture", "ride"),
}
"""Tags the secondary classes of one primary class share (realistic preset): no sibling owns them."""

GENERIC_TAGS = ("tutorial", "review", "challenge", "how to", "beginner friendly", "vlog", "highlights",
                "compilation", "behind the scenes", "top 10", "live stream", "day in my life", "explained",
                "asmr", "before and after", "on a budget", "diy", "reacts", "q and a", "first time",
                "pro tips", "ranking", "transformation", "storytime")
"""Format tags that unrelated classes share (realistic preset), each popular in a few classes."""

ENTITY_FIRST_NAMES = ("mira", "kenji", "ayla", "tomas", "priya", "lucas", "noor", "dario", "yuki", "omar",
                      "elena", "felix", "sana", "bruno", "ines", "jonas", "leila", "mateo", "zara", "ravi",
                      "nadia", "oscar", "hana", "theo", "amara", "kai", "lina", "marco", "rosa", "ivan",
                      "chloe", "emeka", "freya", "hugo", "isla", "jamal", "keiko", "luca", "maya", "niko")
ENTITY_LAST_NAMES = ("okafor", "tanaka", "silva", "novak", "haddad", "kowalski", "moreau", "lindqvist",
                     "costa", "nakamura", "petrov", "osei", "fischer", "romano", "duarte", "kaur", "mendes",
                     "larsen", "yilmaz", "brennan", "sato", "abara", "vega", "kim", "nguyen", "park",
                     "ortiz", "weber", "quinn", "rossi", "adeyemi", "holm", "castillo", "ivanova",
                     "moretti", "dubois", "baker", "chen", "lopez", "varga")
"""Parts of the rare entity tags (creators, people) of the realistic preset: "mira okafor"."""

ADJECTIVES = ("amazing", "incredible", "crazy", "best", "epic", "beautiful", "funny", "quick", "easy",
              "ultimate", "simple", "unbelievable", "perfect", "relaxing", "insane")
NOUNS = ("moments", "highlights", "tips", "tutorial", "vlog", "compilation", "review", "challenge",
         "guide", "story", "clip", "session", "ideas", "fails", "reaction")
INTROS = ("watch this", "today's", "the best", "my", "our", "new", "weekly", "classic", "random")
FILLERS = ("you won't believe what happened", "watch till the end", "my day today", "this made my day",
           "wait for it", "so satisfying", "like and follow", "what do you think?", "must see",
           "part two", "not what I expected", "just for fun", "story time", "trying this for the first time",
           "had to share this")
NUMBERS = tuple(str(n) for n in (3, 5, 7, 10, 15, 20))
"""Words of the title templates: they carry no class."""
# fmt: on
